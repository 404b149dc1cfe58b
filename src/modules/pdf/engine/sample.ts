// The free sample: the first pages copied into a new PDF, each marked "Sample" across the page
// and in a band at the top, so a sample passed around still says what it is.
import { readFile, writeFile } from 'node:fs/promises'
import { PDFDocument, StandardFonts, degrees, rgb } from '@cantoo/pdf-lib'
import { openEditor } from './editor.js'

export async function sample (input: string, output: string, options: { pages: number }): Promise<{ pages: number }> {
  const source = await openEditor(new Uint8Array(await readFile(input)))
  const count = Math.max(1, Math.min(Math.floor(options.pages), source.getPageCount()))
  const doc = await PDFDocument.create({ updateMetadata: false })
  const font = await doc.embedFont(StandardFonts.HelveticaBold)
  const pages = await doc.copyPages(source, Array.from({ length: count }, (_, i) => i))
  for (const page of pages) {
    doc.addPage(page)
    markSample(page, font)
  }
  const title = source.getTitle()
  doc.setTitle(title === undefined || title === '' ? 'Sample' : `${title} (sample)`)
  await writeFile(output, await doc.save({ useObjectStreams: true }))
  return { pages: count }
}

type Page = ReturnType<PDFDocument['addPage']>
type Font = Awaited<ReturnType<PDFDocument['embedFont']>>

function markSample (page: Page, font: Font): void {
  const { x, y, width, height } = page.getCropBox()
  // A rotated page shows its width and height swapped: mark it as the reader sees it.
  const angle = ((page.getRotation().angle % 360) + 360) % 360
  const diagonal = Math.hypot(width, height)
  const size = Math.min(diagonal / 5, 160)
  const text = 'Sample'
  const textWidth = font.widthOfTextAtSize(text, size)
  const slope = Math.atan2(height, width)
  // Centre the diagonal word on the page: start half its length back along the diagonal.
  const cx = x + width / 2 - (Math.cos(slope) * textWidth) / 2 + (Math.sin(slope) * size * 0.35)
  const cy = y + height / 2 - (Math.sin(slope) * textWidth) / 2 - (Math.cos(slope) * size * 0.35)
  page.drawText(text, { x: cx, y: cy, size, font, color: rgb(0.85, 0.1, 0.1), opacity: 0.18, rotate: degrees((slope * 180) / Math.PI) })
  const band = Math.min(28, height / 20)
  const top = angle === 0 ? { bx: x, by: y + height - band, bw: width, bh: band } : angle === 180 ? { bx: x, by: y, bw: width, bh: band } : angle === 90 ? { bx: x, by: y, bw: band, bh: height } : { bx: x + width - band, by: y, bw: band, bh: height }
  page.drawRectangle({ x: top.bx, y: top.by, width: top.bw, height: top.bh, color: rgb(0.85, 0.1, 0.1), opacity: 0.85 })
  const label = 'Sample: the first pages only'
  const labelSize = band * 0.5
  const labelRotate = degrees(angle === 0 ? 0 : 360 - angle)
  const lx = angle === 0 ? top.bx + 10 : angle === 180 ? top.bx + top.bw - 10 : angle === 90 ? top.bx + band * 0.7 : top.bx + band * 0.3
  const ly = angle === 0 ? top.by + band * 0.3 : angle === 180 ? top.by + band * 0.7 : angle === 90 ? top.by + 10 : top.by + top.bh - 10
  page.drawText(label, { x: lx, y: ly, size: labelSize, font, color: rgb(1, 1, 1), rotate: labelRotate })
}
