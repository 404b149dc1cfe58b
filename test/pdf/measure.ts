// Numbers for docs/pdf.md and the report, not a test: `node --import=tsx test/pdf/measure.ts`.
// Times each engine operation on a 10-page and a 500-page 50 MB file (in this thread, warm),
// incremental against full-rewrite stamping, pdf-lib against @cantoo/pdf-lib, and the process's
// RSS peak while the pool stamps a 100 MB, 1,000-page file.
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as cantoo from '@cantoo/pdf-lib'
import { inspect } from '../../src/modules/pdf/engine/inspect.js'
import { render } from '../../src/modules/pdf/engine/render.js'
import { sample } from '../../src/modules/pdf/engine/sample.js'
import { stamp } from '../../src/modules/pdf/engine/stamp.js'
import { readStamp } from '../../src/modules/pdf/engine/read-stamp.js'
import { openReader } from '../../src/modules/pdf/engine/reader.js'
import { PdfWorkerPool } from '../../src/modules/pdf/pool.js'
import { makePdf, writeBigPdf } from '../helpers/pdfs.js'

const dir = await mkdtemp(join(tmpdir(), 'pdf-measure-'))
const marks = { line: 'Licensed to reader@example.com · Order 1a2b3c4d', orderId: '1a2b3c4d-0000-4000-8000-000000000000', copyId: randomBytes(16).toString('hex') }

async function time (label: string, run: () => Promise<unknown>, runs = 3): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const started = performance.now()
    await run()
    times.push(performance.now() - started)
  }
  const median = times.sort((a, b) => a - b)[Math.floor(times.length / 2)]
  console.log(`${label.padEnd(48)} ${median.toFixed(0).padStart(7)} ms`)
  return median
}

try {
  const small = join(dir, 'small.pdf')
  await writeFile(small, await makePdf({ pages: 10 }))
  const big = join(dir, 'big.pdf')
  const bigBytes = await writeBigPdf(big, 500)
  console.log(`big file: ${(bigBytes / 1e6).toFixed(1)} MB, 500 pages`)
  await inspect(small) // warm the modules
  for (const [name, path] of [['10 pages', small], ['500 pages 50 MB', big]]) {
    await time(`inspect ${name}`, async () => await inspect(path))
    await time(`render 3 pages ${name}`, async () => await render(path, { pages: 3, width: 800 }))
    await time(`sample 3 pages ${name}`, async () => await sample(path, join(dir, 'sample.pdf'), { pages: 3 }))
    await time(`stamp incremental ${name}`, async () => await stamp(path, join(dir, 'inc.pdf'), marks, { incremental: true }))
    await time(`stamp full rewrite ${name}`, async () => await stamp(path, join(dir, 'full.pdf'), marks, { incremental: false }))
    await time(`readStamp ${name}`, async () => await readStamp(join(dir, 'inc.pdf')))
    const inc = (await readFile(join(dir, 'inc.pdf'))).length
    const full = (await readFile(join(dir, 'full.pdf'))).length
    const reader = await openReader(new Uint8Array(await readFile(join(dir, 'inc.pdf'))))
    const text = await (await reader.getPage(reader.numPages)).getTextContent()
    console.log(`  incremental output ${inc} bytes (+${inc - (await readFile(path)).length}), full ${full} bytes; pdf.js: ${reader.numPages} pages, line on the last: ${text.items.some((i) => 'str' in i && i.str.includes('Licensed to'))}`)
    await reader.destroy()
  }
  const bytes = new Uint8Array(await readFile(big))
  // pdf-lib (the original, unmaintained) is not a dependency: compared only when installed.
  const original = 'pdf-lib'
  const pdflib = await import(original).catch(() => undefined) as typeof cantoo | undefined
  const libraries = [['@cantoo/pdf-lib', cantoo], ...(pdflib === undefined ? [] : [['pdf-lib', pdflib]])] as Array<[string, typeof cantoo]>
  for (const [name, lib] of libraries) {
    await time(`${name}: load 50 MB`, async () => await lib.PDFDocument.load(bytes, { updateMetadata: false }))
    const doc = await lib.PDFDocument.load(bytes, { updateMetadata: false })
    await time(`${name}: save 50 MB (no object streams)`, async () => await doc.save({ useObjectStreams: false }))
  }
  await time('pdf.js: open 50 MB + read every page', async () => {
    const reader = await openReader(bytes.slice())
    for (let n = 1; n <= reader.numPages; n++) await reader.getPage(n)
    await reader.destroy()
  })
  const huge = join(dir, 'huge.pdf')
  const hugeBytes = await writeBigPdf(huge, 1000)
  for (const incremental of [true, false]) {
    const pool = new PdfWorkerPool({ threads: 1 })
    await pool.inspect(small)
    const base = process.memoryUsage().rss
    let peak = base
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 20)
    const started = performance.now()
    await pool.stamp(huge, join(dir, 'huge-stamped.pdf'), marks, { incremental })
    const ms = performance.now() - started
    clearInterval(sampler)
    console.log(`pool stamp ${(hugeBytes / 1e6).toFixed(0)} MB 1,000 pages (${incremental ? 'incremental' : 'full rewrite'}): ${ms.toFixed(0)} ms, ${(1000 / (ms / 1000)).toFixed(0)} pages/s, RSS peak ${(peak / 1e6).toFixed(0)} MB (+${((peak - base) / 1e6).toFixed(0)} MB over the idle pool)`)
    await pool.close()
  }
} finally {
  await rm(dir, { recursive: true, force: true })
}
