// backends: sqlite, postgres-s3
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import t from 'tap'
import { ADMIN_EMAIL, uploadForm } from '../helpers/build.js'
import { pdfBytes } from '../helpers/fixtures.js'
import type { CookieJar } from '../helpers/build.js'
import { sleep } from '../helpers/net.js'
import { csrfToken, deployment, type Deployment } from '../helpers/server-process.js'

/** Whether a new TCP connection to the port is refused. */
async function refused (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(false) })
    socket.once('error', (error: NodeJS.ErrnoException) => { resolve(error.code === 'ECONNREFUSED') })
  })
}

/** A free item's upload form with the PDF given. */
async function freeItemForm (token: string, title: string, pdf: Buffer): Promise<{ body: Buffer, contentType: string }> {
  return await uploadForm({ csrf: token, title, description: '', price: '0', file: pdf, fileName: 'big.pdf', previewName: 'p.png' })
}

async function storeBigFile (d: Deployment, jar: CookieJar, title: string, pdf: Buffer): Promise<void> {
  const token = await csrfToken(d.url, jar, '/admin/content/new')
  const response = await d.upload(jar, await freeItemForm(token, title, pdf))
  await response.arrayBuffer()
  if (response.status !== 303) throw new Error(`upload answered ${response.status}`)
}

t.test('SIGTERM stops accepting, lets a slow download and an upload finish byte-exact, closes the database and exits 0', async (t) => {
  const d = await deployment(t)
  const server = await d.start()
  const admin = await d.signIn({ email: ADMIN_EMAIL })
  const big = pdfBytes('big', 24 * 1024 * 1024)
  await storeBigFile(d, admin, 'Big Book', big)

  // A reader who takes a while: 24 MB read in 64 KiB bites with pauses.
  const download = await fetch(`${d.url}/content/big-book/download`, { headers: { cookie: admin.header } })
  t.equal(download.status, 200)
  const reader = download.body!.getReader()
  const parts: Uint8Array[] = []
  const first = await reader.read()
  parts.push(first.value!)

  // An upload that is still arriving when the signal comes.
  const token = await csrfToken(d.url, admin, '/admin/content/new')
  const late = pdfBytes('late upload', 2 * 1024 * 1024)
  const uploading = d.upload(admin, await freeItemForm(token, 'Late Upload', late), 30)
  await sleep(200)

  const signalled = Date.now()
  server.child.kill('SIGTERM')
  // New connections are refused soon after the signal, while both requests are still running.
  let refusedAt = 0
  for (let i = 0; i < 100 && refusedAt === 0; i++) {
    if (await refused(d.port)) refusedAt = Date.now()
    else await sleep(20)
  }
  t.ok(refusedAt > 0, `new connections are refused ${refusedAt - signalled} ms after SIGTERM`)
  t.equal(server.child.exitCode, null, 'the process waits for the running requests')

  let received = first.value!.length
  for (let i = 0; i < 10_000; i++) {
    const { value, done } = await reader.read()
    if (done) break
    parts.push(value)
    received += value.length
    if (i % 16 === 0) await sleep(5)
  }
  const bytes = Buffer.concat(parts)
  t.equal(bytes.length, big.length, 'the download completes')
  t.equal(createHash('sha256').update(bytes).digest('hex'), createHash('sha256').update(big).digest('hex'), 'byte-exact')
  const uploaded = await uploading
  await uploaded.arrayBuffer()
  t.equal(uploaded.status, 303, 'the upload that was arriving finishes and is stored')

  const exit = await server.exited
  t.same(exit, { code: 0, signal: null }, `exits 0 (${Date.now() - signalled} ms after SIGTERM)`)
  t.notOk(existsSync(`${d.databasePath}-wal`), 'the database was closed (its write-ahead log checkpointed and removed)')
  t.match(server.output(), /"signal":"SIGTERM".*shutting down/)

  // What was stored while shutting down is there after the next start.
  const again = await d.start()
  const page = await fetch(`${again.url}/content/late-upload`)
  t.equal(page.status, 200, 'the upload finished during shutdown is in the catalogue')
  const copy = Buffer.from(await (await fetch(`${again.url}/content/late-upload/download`, { headers: { cookie: admin.header } })).arrayBuffer())
  t.ok(copy.equals(late), 'and downloads byte-identical')
  const stopped = await again.kill('SIGTERM')
  t.equal(stopped.code, 0)
  t.comment(`download ${received} bytes read slowly across shutdown`)
})

t.test('shutdown is bounded: a download nobody reads does not keep the process alive past SHUTDOWN_GRACE_MS', async (t) => {
  const d = await deployment(t)
  const server = await d.start({ SHUTDOWN_GRACE_MS: '1500' })
  const admin = await d.signIn({ email: ADMIN_EMAIL })
  await storeBigFile(d, admin, 'Stalled Book', pdfBytes('stalled', 32 * 1024 * 1024))
  const download = await fetch(`${d.url}/content/stalled-book/download`, { headers: { cookie: admin.header } })
  t.equal(download.status, 200)
  await download.body!.getReader().read() // one bite, then never again
  const signalled = Date.now()
  server.child.kill('SIGTERM')
  const exit = await server.exited
  const took = Date.now() - signalled
  t.ok(took < 10_000, `the process ended ${took} ms after SIGTERM`)
  t.equal(exit.code, 1, 'exit 1 says the grace period ran out')
  t.match(server.output(), /killed by timeout|timeout/i)
  await download.body!.cancel().catch(() => undefined)
})
