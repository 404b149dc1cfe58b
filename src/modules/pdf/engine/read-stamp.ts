// Which copy a file is: every order id and copy id found in the places marks.ts lists. The file
// may have been re-saved by another tool (object streams, a new /ID second half, an incremental
// update) or lost some marks; each place is read on its own, so one that fails costs nothing.
import { readFile } from 'node:fs/promises'
import { PDFArray, PDFDict, PDFHexString, PDFName, PDFString, type PDFDocument } from '@cantoo/pdf-lib'
import { openEditor, walkPages } from './editor.js'
import { INFO_COPY, INFO_ORDER, PIECE, idTag, isCopyId, isOrderId, parseMarkers } from './marks.js'
import { openReader } from './reader.js'

export interface FoundStamp { copyIds: string[], orderIds: string[] }

// Invisible text is looked for on the first and last few pages: enough for a copy whose other
// marks were stripped, and bounded on a 1,000-page book.
const TEXT_PAGES = 3

export async function readStamp (input: string): Promise<FoundStamp> {
  const bytes = new Uint8Array(await readFile(input))
  const copies = new Set<string>()
  const orders = new Set<string>()
  const ids: string[] = []
  const editor = await openEditor(bytes).catch(() => undefined)
  if (editor !== undefined) fromStructure(editor, copies, orders, ids)
  await fromReader(bytes, copies, orders, ids).catch(() => undefined)
  // The /ID's first half is a copy id only if something else says this file is ours, or its
  // second half is still the tag we wrote: every PDF has an /ID.
  const [first, second] = ids
  if (isCopyId(first) && (copies.size > 0 || orders.size > 0 || second === idTag(first))) copies.add(first)
  return { copyIds: [...copies], orderIds: [...orders] }
}

const decoded = (value: unknown): string | undefined =>
  value instanceof PDFString || value instanceof PDFHexString ? value.decodeText() : undefined

function fromStructure (doc: PDFDocument, copies: Set<string>, orders: Set<string>, ids: string[]): void {
  const context = doc.context
  const add = (copy: unknown, order: unknown): void => {
    if (isCopyId(copy)) copies.add(copy)
    if (isOrderId(order)) orders.add(order)
  }
  const info = context.lookupMaybe(context.trailerInfo.Info, PDFDict)
  if (info !== undefined) add(decoded(info.get(PDFName.of(INFO_COPY))), decoded(info.get(PDFName.of(INFO_ORDER))))
  const id = context.lookupMaybe(context.trailerInfo.ID, PDFArray)
  if (id !== undefined) for (const part of id.asArray()) if (part instanceof PDFHexString) ids.push(part.asString().toLowerCase())
  const walk = walkPages(context)
  if (!walk.ok) return
  for (const page of walk.pages) {
    const piece = page.dict.lookupMaybe(PDFName.of('PieceInfo'), PDFDict)?.lookupMaybe(PDFName.of(PIECE), PDFDict)
    const data = piece?.lookupMaybe(PDFName.of('Private'), PDFDict)
    if (data !== undefined) add(decoded(data.get(PDFName.of('Copy'))), decoded(data.get(PDFName.of('Order'))))
  }
}

async function fromReader (bytes: Uint8Array, copies: Set<string>, orders: Set<string>, ids: string[]): Promise<void> {
  const reader = await openReader(bytes)
  try {
    const info = (await reader.getMetadata()).info as unknown as { Custom?: Record<string, unknown> }
    const copy = info.Custom?.[INFO_COPY]
    const order = info.Custom?.[INFO_ORDER]
    if (isCopyId(copy)) copies.add(copy)
    if (isOrderId(order)) orders.add(order)
    if (ids.length === 0) for (const part of reader.fingerprints) if (part !== null) ids.push(part.toLowerCase())
    const count = reader.numPages
    const pages = new Set<number>()
    for (let n = 1; n <= Math.min(TEXT_PAGES, count); n++) pages.add(n)
    for (let n = Math.max(1, count - TEXT_PAGES + 1); n <= count; n++) pages.add(n)
    for (const n of pages) {
      const page = await reader.getPage(n)
      const content = await page.getTextContent()
      const text = content.items.map((item) => ('str' in item ? item.str : '')).join(' ')
      for (const found of parseMarkers(text)) { copies.add(found.copyId); orders.add(found.orderId) }
      page.cleanup()
    }
  } finally {
    await reader.destroy()
  }
}
