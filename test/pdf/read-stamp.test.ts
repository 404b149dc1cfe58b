import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { PDFArray, PDFDict, PDFDocument, PDFName, type PDFRef } from '@cantoo/pdf-lib'
import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs'
import { PdfWorkerPool } from '../../src/modules/pdf/pool.js'
import { makePdf } from '../helpers/pdfs.js'

const dir = await mkdtemp(join(tmpdir(), 'pdf-trace-'))
const pool = new PdfWorkerPool({ threads: 1 })
t.teardown(async () => {
  await pool.close()
  await rm(dir, { recursive: true, force: true })
})

const ORDER = '9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a'
const copy = randomBytes(16).toString('hex')
const original = join(dir, 'original.pdf')
const stamped = join(dir, 'stamped.pdf')
await writeFile(original, await makePdf({ pages: 5, title: 'Leaky' }))
await pool.stamp(original, stamped, { line: 'Licensed to leak@example.com · Order 9f8e7d6c', orderId: ORDER, copyId: copy })

async function variant (name: string, change: (bytes: Uint8Array) => Promise<Uint8Array>): Promise<string> {
  const path = join(dir, `${name}.pdf`)
  await writeFile(path, await change(new Uint8Array(await readFile(stamped))))
  return path
}

/** Each page's /Contents without the stamp's streams: the last (the line), or the first too. */
async function stripStreams (bytes: Uint8Array, options: { hidden: boolean, info: boolean, pieces: boolean }): Promise<Uint8Array> {
  const doc = await PDFDocument.load(bytes)
  for (const page of doc.getPages()) {
    const contents = page.node.lookup(PDFName.of('Contents'), PDFArray)
    const refs = contents.asArray() as PDFRef[]
    const kept = refs.slice(options.hidden ? 1 : 0, -1)
    page.node.set(PDFName.of('Contents'), doc.context.obj(kept))
    if (options.pieces) page.node.delete(PDFName.of('PieceInfo'))
  }
  if (options.info) {
    const info = doc.context.lookup(doc.context.trailerInfo.Info, PDFDict)
    for (const key of ['PdfMarketOrder', 'PdfMarketCopy', 'PdfMarketLicense']) info.delete(PDFName.of(key))
  }
  return await doc.save({ useObjectStreams: true })
}

t.test('the stamp is found in the stamped copy', async (t) => {
  t.same(await pool.readStamp(stamped), { copyIds: [copy], orderIds: [ORDER] })
})

t.test('the stamp survives a re-save by pdf-lib with object streams', async (t) => {
  const path = await variant('pdf-lib', async (bytes) => await (await PDFDocument.load(bytes)).save({ useObjectStreams: true }))
  t.match((await readFile(path)).toString('latin1'), '/ObjStm', 'the objects now sit in object streams')
  t.same(await pool.readStamp(path), { copyIds: [copy], orderIds: [ORDER] })
})

t.test('the stamp survives pdf.js saveDocument()', async (t) => {
  const path = await variant('pdfjs', async (bytes) => {
    const doc = await getDocument({ data: bytes, verbosity: 0, isEvalSupported: false }).promise
    const saved = await doc.saveDocument()
    await doc.destroy()
    return saved
  })
  t.same(await pool.readStamp(path), { copyIds: [copy], orderIds: [ORDER] })
})

t.test('the stamp survives removing the visible line\'s content stream', async (t) => {
  const path = await variant('no-line', async (bytes) => await stripStreams(bytes, { hidden: false, info: false, pieces: false }))
  const doc = await getDocument({ data: new Uint8Array(await readFile(path)), verbosity: 0 }).promise
  const text = (await (await doc.getPage(1)).getTextContent()).items.map((i) => ('str' in i ? i.str : '')).join(' ')
  await doc.destroy()
  t.notMatch(text, 'Licensed to', 'the visible line is gone')
  t.same(await pool.readStamp(path), { copyIds: [copy], orderIds: [ORDER] })
})

t.test('with the line, the metadata and the page marks stripped, the invisible text still names the copy', async (t) => {
  const path = await variant('stripped', async (bytes) => await stripStreams(bytes, { hidden: false, info: true, pieces: true }))
  t.same(await pool.readStamp(path), { copyIds: [copy], orderIds: [ORDER] })
})

t.test('with only the page marks left, they name the copy', async (t) => {
  const path = await variant('pieces-only', async (bytes) => await stripStreams(bytes, { hidden: true, info: true, pieces: false }))
  t.same(await pool.readStamp(path), { copyIds: [copy], orderIds: [ORDER] })
})

t.test('readStamp of a file that is not a PDF finds nothing', async (t) => {
  const path = join(dir, 'junk.pdf')
  await writeFile(path, randomBytes(3000))
  t.same(await pool.readStamp(path), { copyIds: [], orderIds: [] })
})
