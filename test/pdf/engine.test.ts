import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs'
import { PdfWorkerPool } from '../../src/modules/pdf/pool.js'
import { xrefIsSound } from '../../src/modules/pdf/engine/xref.js'
import * as pdfs from '../helpers/pdfs.js'

const dir = await mkdtemp(join(tmpdir(), 'pdf-engine-'))
const pool = new PdfWorkerPool({ threads: 1, timeoutMs: 60_000 })
t.teardown(async () => {
  await pool.close()
  await rm(dir, { recursive: true, force: true })
})

let files = 0
async function file (bytes: Uint8Array | Promise<Uint8Array>): Promise<string> {
  const path = join(dir, `f${++files}.pdf`)
  await writeFile(path, await bytes)
  return path
}

async function readerView (path: string): Promise<{ pages: number, text: string[], custom: Record<string, unknown> }> {
  const doc = await getDocument({ data: new Uint8Array(await readFile(path)), verbosity: 0, isEvalSupported: false }).promise
  const text: string[] = []
  for (let n = 1; n <= doc.numPages; n++) {
    const content = await (await doc.getPage(n)).getTextContent()
    text.push(content.items.map((item) => ('str' in item ? item.str : '')).join(' '))
  }
  const info = (await doc.getMetadata()).info as { Custom?: Record<string, unknown> }
  const pages = doc.numPages
  await doc.destroy()
  return { pages, text, custom: info.Custom ?? {} }
}

/** The width in a WebP's header: VP8X (extended) keeps width - 1 in 24 bits, VP8 in 14 bits. */
function webpWidth (image: Uint8Array): number {
  const bytes = Buffer.from(image)
  const chunk = bytes.subarray(12, 16).toString('latin1')
  if (chunk === 'VP8X') return bytes.readUIntLE(24, 3) + 1
  if (chunk === 'VP8L') return (bytes.readUInt16LE(21) & 0x3fff) + 1
  return bytes.readUInt16LE(26) & 0x3fff
}

const copyId = (): string => randomBytes(16).toString('hex')
const ORDER = '1a2b3c4d-5e6f-4a0b-8c1d-2e3f4a5b6c7d'

t.test('inspect reads the page count, title and author of a valid PDF', async (t) => {
  const result = await pool.inspect(await file(pdfs.makePdf({ pages: 10, title: 'Field Notes', author: 'Ada Writer' })))
  t.same(result, { ok: true, facts: { pages: 10, title: 'Field Notes', author: 'Ada Writer', encrypted: false, stampable: true, unstampableReason: null } })
})

t.test('each malformed class is refused with one clear sentence or accepted, within the timeout', async (t) => {
  const cases: Array<[string, Uint8Array | Promise<Uint8Array>, boolean, RegExp?]> = [
    ['user password', pdfs.userEncryptedPdf(), false, /password/],
    ['truncated', pdfs.truncatedPdf(), false, /damaged/],
    ['no pages', pdfs.noPagesPdf(), false, /no pages/],
    ['cyclic page tree', pdfs.cyclicPdf(), false, /loops back/],
    ['not a PDF after the header', pdfs.notAPdf(), false, /damaged/],
    ['not a PDF at all', randomBytes(2000), false, /not a PDF/],
    ['empty', new Uint8Array(0), false, /empty/],
    ['broken xref (repairable)', pdfs.brokenXrefPdf(), true],
    ['a page count that lies', pdfs.absurdCountPdf(), true]
  ]
  for (const [name, bytes, accepted, reason] of cases) {
    const started = Date.now()
    const result = await pool.inspect(await file(bytes))
    t.equal(result.ok, accepted, name)
    if (!result.ok) {
      t.match(result.reason, reason ?? /./, `${name}: ${result.reason}`)
      t.match(result.reason, /^[A-Z][^\n]+[.]$/, `${name}: one sentence`)
    }
    t.ok(Date.now() - started < 30_000, `${name}: answered in time`)
  }
})

t.test('an owner-password PDF is accepted, flagged encrypted and not stampable, with a reason', async (t) => {
  const result = await pool.inspect(await file(pdfs.ownerEncryptedPdf()))
  if (!result.ok) return t.fail(result.reason)
  t.equal(result.facts.pages, 2)
  t.equal(result.facts.encrypted, true)
  t.equal(result.facts.stampable, false)
  t.match(result.facts.unstampableReason, /owner password/)
})

t.test('a page tree of more than 20,000 pages is refused', async (t) => {
  const kids = Array.from({ length: 20_001 }, (_, i) => `${i + 3} 0 R`).join(' ')
  const pages = Array.from({ length: 20_001 }, () => '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>')
  const result = await pool.inspect(await file(pdfs.rawPdf(['<< /Type /Catalog /Pages 2 0 R >>', `<< /Type /Pages /Kids [${kids}] /Count 20001 >>`, ...pages])))
  t.equal(result.ok, false)
  if (!result.ok) t.match(result.reason, /more than 20,000 pages/)
})

t.test('render draws the first pages as WebP images about 800 px wide, clamped to the page count', async (t) => {
  const input = await file(pdfs.makePdf({ pages: 2 }))
  const rendered = await pool.render(input, { pages: 5, width: 800 })
  t.equal(rendered.contentType, 'image/webp')
  t.equal(rendered.images.length, 2)
  for (const image of rendered.images) {
    t.equal(Buffer.from(image.subarray(0, 4)).toString('latin1'), 'RIFF')
    t.equal(Buffer.from(image.subarray(8, 12)).toString('latin1'), 'WEBP')
    t.equal(webpWidth(image), 800)
  }
})

t.test('sample writes the first pages, each marked "Sample", and opens in pdf.js', async (t) => {
  const input = await file(pdfs.makePdf({ pages: 6, title: 'Guide' }))
  const output = join(dir, 'sample.pdf')
  t.same(await pool.sample(input, output, { pages: 3 }), { pages: 3 })
  const view = await readerView(output)
  t.equal(view.pages, 3)
  view.text.forEach((text, i) => {
    t.match(text, `Page ${i + 1}`)
    t.match(text, 'Sample')
  })
  t.same(await pool.sample(input, join(dir, 'sample-all.pdf'), { pages: 99 }), { pages: 6 }, 'clamped to the page count')
  t.same(await pool.sample(input, join(dir, 'sample-one.pdf'), { pages: 0 }), { pages: 1 }, 'at least one page')
})

t.test('stamp writes an incremental update: original bytes first, every page with the line', async (t) => {
  const input = await file(pdfs.makePdf({ pages: 10, title: 'Stamped' }))
  const output = join(dir, 'stamped.pdf')
  const copy = copyId()
  const result = await pool.stamp(input, output, { line: 'Licensed to a@b.c · Order 1a2b3c4d', orderId: ORDER, copyId: copy })
  const original = await readFile(input)
  const stamped = await readFile(output)
  t.equal(result.bytes, stamped.length)
  t.ok(stamped.subarray(0, original.length).equals(original), 'the original bytes are kept as they are')
  t.ok(stamped.length - original.length < 10_000, `a small update (${stamped.length - original.length} bytes)`)
  t.ok(xrefIsSound(stamped), 'the appended cross-reference offsets are exact')
  const view = await readerView(output)
  t.equal(view.pages, 10)
  view.text.forEach((text, i) => {
    t.match(text, `Page ${i + 1}`, 'the content is still there')
    t.match(text, 'Licensed to a@b.c · Order 1a2b3c4d', `page ${i + 1} carries the line`)
  })
  t.equal(view.custom.PdfMarketCopy, copy)
  t.equal(view.custom.PdfMarketOrder, ORDER)
  t.same(await pool.readStamp(output), { copyIds: [copy], orderIds: [ORDER] })
  t.same(await pool.readStamp(input), { copyIds: [], orderIds: [] }, 'an unstamped file carries no stamp')
})

t.test('a line the standard font cannot show is transliterated; the metadata keeps it exactly', async (t) => {
  const input = await file(pdfs.makePdf({ pages: 1 }))
  const output = join(dir, 'unicode.pdf')
  const line = 'Licensed to Жанна.Ωmega@例え.jp · Order 1a2b3c4d'
  await pool.stamp(input, output, { line, orderId: ORDER, copyId: copyId() })
  const view = await readerView(output)
  t.match(view.text[0], 'Licensed to Zhanna.Omega@')
  t.match(view.text[0], '.jp · Order 1a2b3c4d')
  t.equal(view.custom.PdfMarketLicense, line)
})

t.test('a file with a broken xref is stamped by a full rewrite that pdf.js reads', async (t) => {
  const input = await file(pdfs.brokenXrefPdf())
  const output = join(dir, 'stamped-broken.pdf')
  const copy = copyId()
  await pool.stamp(input, output, { line: 'Licensed to a@b.c · Order 1a2b3c4d', orderId: ORDER, copyId: copy })
  t.ok(xrefIsSound(await readFile(output)))
  const view = await readerView(output)
  t.equal(view.pages, 4)
  t.match(view.text[3], 'Licensed to a@b.c')
  t.same(await pool.readStamp(output), { copyIds: [copy], orderIds: [ORDER] })
})

t.test('pages with /Rotate, inherited resources and a crop box get the line along the bottom they show', async (t) => {
  const input = await file(pdfs.rawPdf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 /Resources << /Font << /F1 6 0 R >> >> /MediaBox [0 0 612 792] >>',
    '<< /Type /Page /Parent 2 0 R /Rotate 90 /Contents 5 0 R >>',
    '<< /Type /Page /Parent 2 0 R /CropBox [50 50 400 750] /Contents 5 0 R >>',
    '<< /Length 44 >>\nstream\nBT /F1 24 Tf 72 700 Td (Body text) Tj ET\nendstream',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>'
  ]))
  const output = join(dir, 'rotated.pdf')
  await pool.stamp(input, output, { line: 'Licensed to r@o.t · Order 1a2b3c4d', orderId: ORDER, copyId: copyId() })
  const view = await readerView(output)
  t.equal(view.pages, 2)
  for (const text of view.text) {
    t.match(text, 'Body text')
    t.match(text, 'Licensed to r@o.t')
  }
})

t.test('stamp refuses ids of the wrong shape before any work', async (t) => {
  await t.rejects(pool.stamp('x.pdf', 'y.pdf', { line: 'l', orderId: ORDER, copyId: 'short' }), TypeError)
})

t.test('sample and stamp of a bad file reject with a DomainError "invalid"', async (t) => {
  const input = await file(pdfs.notAPdf())
  await t.rejects(pool.sample(input, join(dir, 'bad-sample.pdf'), { pages: 1 }), { name: 'DomainError', kind: 'invalid' })
  await t.rejects(pool.stamp(input, join(dir, 'bad-stamp.pdf'), { line: 'l', orderId: ORDER, copyId: copyId() }), { name: 'DomainError', kind: 'invalid' })
  await t.rejects(pool.stamp(await file(pdfs.ownerEncryptedPdf()), join(dir, 'enc.pdf'), { line: 'l', orderId: ORDER, copyId: copyId() }), { name: 'DomainError', kind: 'invalid' })
})
