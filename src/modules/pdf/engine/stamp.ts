// A buyer's copy: every page carries a visible line at the bottom ("Licensed to ... · Order ..."),
// and the order id and copy id are also written where removing that line leaves them (marks.ts).
// Written as an incremental update when the original's cross-reference table is sound: the
// original bytes are copied as they are and a few kilobytes per hundred pages are appended, so
// the cost grows with pages, not bytes. Otherwise the whole file is rewritten.
import { appendFile, copyFile, readFile, stat, writeFile } from 'node:fs/promises'
import transliterate from '@sindresorhus/transliterate'
import { PDFArray, PDFDict, PDFHexString, PDFName, PDFRef, PDFString, StandardFontEmbedder, StandardFonts, type PDFContext, type PDFDocument } from '@cantoo/pdf-lib'
import { inheritedAttribute, openEditor, walkPages, type PageLeaf } from './editor.js'
import { FONT, INFO_COPY, INFO_ORDER, PIECE, idTag, marker } from './marks.js'
import { xrefIsSound } from './xref.js'

export interface StampMarks { line: string, orderId: string, copyId: string }

const helvetica = StandardFontEmbedder.for(StandardFonts.Helvetica as unknown as Parameters<typeof StandardFontEmbedder.for>[0])

export async function stamp (input: string, output: string, marks: StampMarks, options: { incremental?: boolean } = {}): Promise<{ bytes: number, incremental: boolean }> {
  const bytes = new Uint8Array(await readFile(input))
  const incremental = options.incremental ?? xrefIsSound(bytes)
  const doc = await openEditor(bytes, { incremental })
  if (doc.isEncrypted) throw new Error('an encrypted PDF cannot be stamped')
  const walk = walkPages(doc.context)
  if (!walk.ok) throw new Error(`the page tree cannot be walked (${walk.problem})`)
  const snapshot = doc.context.snapshot
  if (incremental && snapshot === undefined) throw new Error('no snapshot for an incremental update')
  // With a snapshot attached, pdf-lib looks up the object owning every dictionary entry it sets
  // by a linear search of all objects (O(pages x objects): 17 s for 500 pages instead of 0.2 s).
  // We know what changes: detach it while writing, then name the changed objects ourselves.
  doc.context.snapshot = undefined
  addMarks(doc, walk.pages, marks)
  doc.context.snapshot = snapshot
  if (snapshot !== undefined) {
    for (const page of walk.pages) snapshot.markRefForSave(page.ref)
    const info = doc.context.trailerInfo.Info
    if (info instanceof PDFRef) snapshot.markRefForSave(info)
    const tail = await doc.saveIncremental(snapshot, { useObjectStreams: doc.context.pdfFileDetails.useObjectStreams })
    await copyFile(input, output)
    // The update's offsets count from the original's last byte: append it exactly as written
    // (it starts with an end of line of its own).
    await appendFile(output, tail)
  } else {
    await writeFile(output, await doc.save({ useObjectStreams: false }))
  }
  return { bytes: (await stat(output)).size, incremental }
}

function addMarks (doc: PDFDocument, pages: PageLeaf[], marks: StampMarks): void {
  const context = doc.context
  const font = context.register(context.obj({ Type: 'Font', Subtype: 'Type1', BaseFont: 'Helvetica', Encoding: 'WinAnsiEncoding' }))
  const line = encodable(marks.line)
  const open = context.register(context.stream('q\n'))
  const close = context.register(context.stream('\nQ\n'))
  const hiddenText = marker(marks.orderId, marks.copyId)
  // Pages of one size and rotation share their two streams: fewer objects, a smaller update.
  const streams = new Map<string, { visible: PDFRef, hidden: PDFRef }>()
  const modified = PDFString.fromDate(new Date())
  for (const page of pages) {
    const box = pageBox(context, page)
    const key = box.join(' ')
    let shared = streams.get(key)
    if (shared === undefined) {
      shared = {
        visible: context.register(context.stream(visibleLine(line, box))),
        // q/Q: the render mode (3, invisible) is graphics state and would outlive ET.
        hidden: context.register(context.stream(`q BT 3 Tr /${FONT} 1 Tf 1 0 0 1 ${box[0] + 2} ${box[1] + 2} Tm (${hiddenText}) Tj ET Q\n`))
      }
      streams.set(key, shared)
    }
    page.dict.set(PDFName.of('Contents'), context.obj([shared.hidden, open, ...contentRefs(context, page.dict), close, shared.visible]))
    page.dict.set(PDFName.of('Resources'), resourcesWithFont(context, page, font))
    const pieces = copyDict(context, page.dict.lookupMaybe(PDFName.of('PieceInfo'), PDFDict))
    pieces.set(PDFName.of(PIECE), context.obj({ LastModified: modified, Private: { Order: PDFString.of(marks.orderId), Copy: PDFString.of(marks.copyId) } }))
    page.dict.set(PDFName.of('PieceInfo'), pieces)
  }
  const infoRef = context.trailerInfo.Info
  const info = infoRef instanceof PDFRef ? context.lookupMaybe(infoRef, PDFDict) : infoRef instanceof PDFDict ? infoRef : undefined
  const target = info ?? context.obj({})
  target.set(PDFName.of(INFO_ORDER), PDFString.of(marks.orderId))
  target.set(PDFName.of(INFO_COPY), PDFString.of(marks.copyId))
  // The exact line, in UTF-16: the visible one may be transliterated.
  target.set(PDFName.of('PdfMarketLicense'), PDFHexString.fromText(marks.line))
  if (info === undefined || !(infoRef instanceof PDFRef)) context.trailerInfo.Info = context.register(target)
  context.trailerInfo.ID = context.obj([PDFHexString.of(marks.copyId), PDFHexString.of(idTag(marks.copyId))])
}

/** The line in what Helvetica (WinAnsi) can show: transliterated where it cannot, '?' at worst. */
export function encodable (line: string): string {
  let out = ''
  for (const char of line) {
    if (canEncode(char)) { out += char; continue }
    for (const c of transliterate(char)) out += canEncode(c) ? c : '?'
  }
  return out
}

// encodeText would not throw on these: it would silently draw them as '?'.
const canEncode = (char: string): boolean => helvetica.encoding.canEncodeUnicodeCodePoint(char.codePointAt(0) ?? 0)

/** [x0, y0, x1, y1, rotation] of what the reader shows: the crop box, else the media box. */
function pageBox (context: PDFContext, page: PageLeaf): number[] {
  const box = context.lookupMaybe(inheritedAttribute(page, 'CropBox') as PDFArray | undefined, PDFArray) ??
    context.lookupMaybe(inheritedAttribute(page, 'MediaBox') as PDFArray | undefined, PDFArray)
  const numbers = box?.asArray().map((n) => Number(context.lookup(n)?.toString())) ?? []
  const [a, b, c, d] = numbers.length === 4 && numbers.every(Number.isFinite) ? numbers : [0, 0, 612, 792]
  const rotate = Number(context.lookup(inheritedAttribute(page, 'Rotate') as PDFRef | undefined)?.toString() ?? 0)
  const rotation = ((Math.round((Number.isFinite(rotate) ? rotate : 0) / 90) * 90) % 360 + 360) % 360
  return [Math.min(a, c), Math.min(b, d), Math.max(a, c), Math.max(b, d), rotation]
}

/** The line centred along the bottom edge the reader sees, small, grey, over the content. */
function visibleLine (line: string, [x0, y0, x1, y1, rotation]: number[]): string {
  const across = rotation % 180 === 0 ? x1 - x0 : y1 - y0
  let size = Math.max(5, Math.min(8, across * 0.012))
  const width = (s: number): number => helvetica.widthOfTextAtSize(line, s)
  if (width(size) > across * 0.92) size = Math.max(3, (size * across * 0.92) / width(size))
  const along = Math.max(4, (across - width(size)) / 2)
  const up = Math.max(6, size * 1.2)
  // Text matrix per rotation: the baseline runs along the shown bottom edge, left to right.
  const matrix = rotation === 0
    ? [1, 0, 0, 1, x0 + along, y0 + up]
    : rotation === 90
      ? [0, 1, -1, 0, x1 - up, y0 + along]
      : rotation === 180
        ? [-1, 0, 0, -1, x1 - along, y1 - up]
        : [0, -1, 1, 0, x0 + up, y1 - along]
  const hex = helvetica.encodeText(line).toString()
  return `q BT 0 Tr 0.35 g /${FONT} ${size.toFixed(2)} Tf ${matrix.map((n) => Number(n.toFixed(3))).join(' ')} Tm ${hex} Tj ET Q\n`
}

function contentRefs (context: PDFContext, page: PDFDict): PDFRef[] {
  const contents = page.get(PDFName.of('Contents'))
  if (contents instanceof PDFRef) {
    const target = context.lookup(contents)
    if (target instanceof PDFArray) return target.asArray().filter((r): r is PDFRef => r instanceof PDFRef)
    return target === undefined ? [] : [contents]
  }
  if (contents instanceof PDFArray) return contents.asArray().filter((r): r is PDFRef => r instanceof PDFRef)
  return []
}

function copyDict (context: PDFContext, dict: PDFDict | undefined): PDFDict {
  const copy = context.obj({})
  if (dict !== undefined) for (const [key, value] of dict.entries()) copy.set(key, value)
  return copy
}

/** A copy of the page's resources (inherited ones included) whose fonts also hold ours. */
function resourcesWithFont (context: PDFContext, page: PageLeaf, font: PDFRef): PDFDict {
  const resources = copyDict(context, context.lookupMaybe(inheritedAttribute(page, 'Resources') as PDFRef | undefined, PDFDict))
  const fonts = copyDict(context, resources.lookupMaybe(PDFName.of('Font'), PDFDict))
  fonts.set(PDFName.of(FONT), font)
  resources.set(PDFName.of('Font'), fonts)
  return resources
}
