// Test PDFs for the PDF engine: valid ones made with @cantoo/pdf-lib, and the malformed classes a
// creator may upload (encrypted, damaged, truncated, no pages, cyclic or absurd page trees, not
// a PDF after the header), plus big files written by hand so 50-100 MB take a second, not minutes.
import { randomBytes } from 'node:crypto'
import { open } from 'node:fs/promises'
import { PDFDocument, StandardFonts, rgb } from '@cantoo/pdf-lib'

export interface PdfOptions { pages?: number, title?: string, author?: string, text?: string, objectStreams?: boolean }

/** A valid PDF of `pages` Letter pages, each with a heading "Page n" and a paragraph. */
export async function makePdf (options: PdfOptions = {}): Promise<Uint8Array> {
  const doc = await PDFDocument.create({ updateMetadata: false })
  const font = await doc.embedFont(StandardFonts.Helvetica)
  for (let n = 1; n <= (options.pages ?? 3); n++) {
    const page = doc.addPage([612, 792])
    page.drawText(`Page ${n}`, { x: 72, y: 700, size: 28, font, color: rgb(0.1, 0.1, 0.3) })
    page.drawText(options.text ?? 'The quick brown fox jumps over the lazy dog.', { x: 72, y: 650, size: 12, font })
  }
  if (options.title !== undefined) doc.setTitle(options.title)
  if (options.author !== undefined) doc.setAuthor(options.author)
  return await doc.save({ useObjectStreams: options.objectStreams ?? false })
}

/** Encrypted with an owner password only: opens without a password (restrictions only). */
export async function ownerEncryptedPdf (): Promise<Uint8Array> {
  const doc = await PDFDocument.load(await makePdf({ pages: 2, title: 'Locked down' }))
  doc.encrypt({ ownerPassword: 'owner-secret', userPassword: '', permissions: { modifying: false, copying: false } })
  return await doc.save({ useObjectStreams: false })
}

/** Encrypted with a user password: nobody can open it without the password. */
export async function userEncryptedPdf (): Promise<Uint8Array> {
  const doc = await PDFDocument.load(await makePdf({ pages: 2 }))
  doc.encrypt({ ownerPassword: 'owner-secret', userPassword: 'reader-secret' })
  return await doc.save({ useObjectStreams: false })
}

/** A valid file whose cross-reference offsets are garbled (readers must rebuild them). */
export async function brokenXrefPdf (): Promise<Uint8Array> {
  const text = Buffer.from(await makePdf({ pages: 4 })).toString('latin1')
  const at = text.lastIndexOf('\nxref')
  const garbled = text.slice(at).replace(/^(\d{10}) (\d{5}) n/gm, (_m, offset: string, gen: string) =>
    `${String((Number(offset) * 7 + 13) % 100_000).padStart(10, '0')} ${gen} n`)
  return Buffer.from(text.slice(0, at) + garbled, 'latin1')
}

/** The first `fraction` of a valid file: no xref, no trailer, cut inside an object. */
export async function truncatedPdf (fraction = 0.6): Promise<Uint8Array> {
  const bytes = await makePdf({ pages: 4 })
  return bytes.subarray(0, Math.floor(bytes.length * fraction))
}

/** A hand-written PDF from object bodies (1-based: objects[0] is `1 0 obj`), catalog = 1 0 R. */
export function rawPdf (objects: string[], trailerExtra = ''): Uint8Array {
  let body = '%PDF-1.7\n%\xe2\xe3\xcf\xd3\n'
  const offsets: number[] = []
  objects.forEach((object, index) => {
    offsets.push(body.length)
    body += `${index + 1} 0 obj\n${object}\nendobj\n`
  })
  const xref = body.length
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R ${trailerExtra}>>\nstartxref\n${xref}\n%%EOF\n`
  return Buffer.from(body, 'latin1')
}

/** A catalog whose page tree is empty (/Kids [], /Count 0). */
export function noPagesPdf (): Uint8Array {
  return rawPdf(['<< /Type /Catalog /Pages 2 0 R >>', '<< /Type /Pages /Kids [] /Count 0 >>'])
}

/** A page tree that contains itself: 2 -> 3 -> 2, and one real page. */
export function cyclicPdf (): Uint8Array {
  return rawPdf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>',
    '<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>'
  ])
}

/** A page tree that claims a million pages and has one. */
export function absurdCountPdf (): Uint8Array {
  return rawPdf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1000000 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>'
  ])
}

/** "%PDF-1.7" then random bytes. */
export function notAPdf (size = 4096): Uint8Array {
  return Buffer.concat([Buffer.from('%PDF-1.7\n', 'latin1'), randomBytes(size)])
}

/**
 * A big PDF written straight to `path`: `pages` pages, each with a line of text and an image of
 * `bytesPerPage` incompressible bytes (drawn as a small square), so size grows with pages. 500
 * pages of 100 KB make the 50 MB file of the bench; 1,000 the 100 MB one. Takes about a second.
 */
export async function writeBigPdf (path: string, pages: number, bytesPerPage = 100 * 1024): Promise<number> {
  const file = await open(path, 'w')
  let offset = 0
  const offsets: number[] = []
  const write = async (chunk: string | Uint8Array): Promise<void> => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk
    await file.write(bytes)
    offset += bytes.length
  }
  const object = async (number: number, head: string, stream?: Uint8Array): Promise<void> => {
    offsets[number] = offset
    if (stream === undefined) return await write(`${number} 0 obj\n${head}\nendobj\n`)
    await write(`${number} 0 obj\n${head}\nstream\n`)
    await write(stream)
    await write('\nendstream\nendobj\n')
  }
  try {
    await write('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n')
    const side = Math.floor(Math.sqrt(bytesPerPage))
    const kids = Array.from({ length: pages }, (_, i) => `${4 + i * 3} 0 R`).join(' ')
    await object(1, '<< /Type /Catalog /Pages 2 0 R >>')
    await object(2, `<< /Type /Pages /Kids [${kids}] /Count ${pages} >>`)
    await object(3, '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>')
    for (let i = 0; i < pages; i++) {
      const n = 4 + i * 3
      const content = `BT /F1 24 Tf 72 700 Td (Page ${i + 1} of a big book) Tj ET q 100 0 0 100 72 500 cm /Im1 Do Q`
      await object(n, `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents ${n + 1} 0 R /Resources << /Font << /F1 3 0 R >> /XObject << /Im1 ${n + 2} 0 R >> >> >>`)
      await object(n + 1, `<< /Length ${content.length} >>`, Buffer.from(content, 'latin1'))
      await object(n + 2, `<< /Type /XObject /Subtype /Image /Width ${side} /Height ${side} /ColorSpace /DeviceGray /BitsPerComponent 8 /Length ${side * side} >>`, randomBytes(side * side))
    }
    const size = 4 + pages * 3
    const xref = offset
    let table = `xref\n0 ${size}\n0000000000 65535 f \n`
    for (let n = 1; n < size; n++) table += `${String(offsets[n]).padStart(10, '0')} 00000 n \n`
    await write(table)
    await write(`trailer\n<< /Size ${size} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`)
    return offset
  } finally {
    await file.close()
  }
}
