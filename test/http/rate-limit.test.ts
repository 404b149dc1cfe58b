import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import t from 'tap'
import { ADMIN_EMAIL, build } from '../helpers/build.js'
import { pngBytes } from '../helpers/fixtures.js'
import { seedContent } from '../helpers/seed.js'

t.test('with RATE_LIMIT_PER_MINUTE=3 the 4th sign-in is 429 with Retry-After and a page saying when to try again', async (t) => {
  const h = await build(t, { RATE_LIMIT_PER_MINUTE: '3' })
  for (let i = 1; i <= 3; i++) {
    const response = await h.app.inject('/login')
    t.equal(response.statusCode, 302, `sign-in ${i} goes to the provider`)
  }
  const limited = await h.app.inject({ url: '/login', headers: { accept: 'text/html' } })
  t.equal(limited.statusCode, 429)
  const retryAfter = Number(limited.headers['retry-after'])
  t.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After is a number of seconds (${String(limited.headers['retry-after'])})`)
  t.match(limited.headers['content-type'], /text\/html/)
  t.match(limited.body, /Please wait \d+ seconds and try again/)
  t.notMatch(limited.body, /at .*\.ts:\d+/, 'no stack trace')

  // Another client (address) has its own allowance.
  const other = await h.app.inject({ url: '/login', remoteAddress: '10.0.0.2' })
  t.equal(other.statusCode, 302, 'another client is not limited')
})

t.test('checkout is limited per client; the Stripe webhook never is', async (t) => {
  const h = await build(t, { RATE_LIMIT_PER_MINUTE: '3' })
  const [item] = await seedContent(h, 1)
  const jar = await h.signIn({ email: 'reader@example.com' }) // one of the 3 sign-ins
  const token = await h.csrf(jar)
  const answers: number[] = []
  for (let i = 0; i < 4; i++) {
    answers.push((await h.request(jar, { method: 'POST', url: `/checkout/${item!.slug}`, form: { _csrf: token } })).statusCode)
  }
  t.same(answers, [303, 303, 303, 429], 'three checkouts, then 429')

  const statuses = new Set<number>()
  for (let i = 0; i < 20; i++) {
    statuses.add((await h.webhook(h.stripe.buildEvent('customer.created', { id: `cus_${i}` }))).statusCode)
  }
  t.same([...statuses], [200], '20 webhooks in a row are all answered 200')
})

t.test('RATE_LIMIT_PER_MINUTE=0 limits nothing', async (t) => {
  const h = await build(t, { RATE_LIMIT_PER_MINUTE: '0' })
  const statuses = new Set<number>()
  for (let i = 0; i < 30; i++) statuses.add((await h.app.inject('/login')).statusCode)
  t.same([...statuses], [302])
  t.notOk((await h.app.inject('/login')).headers['x-ratelimit-limit'], 'no rate-limit headers')
})

/** Total bytes of every file (temporary ones included) under `dir`, but the store's id. */
async function bytesOnDisk (dir: string): Promise<number> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => name !== '.store-id')
  let total = 0
  for (const name of names) total += await stat(join(dir, name)).then((s) => s.size, () => 0)
  return total
}

t.test('with MAX_UPLOAD_MB=1 a 20 MB upload is refused while streaming: never more than ~1 MB reaches the disk', async (t) => {
  const h = await build(t, { MAX_UPLOAD_MB: '1' })
  const jar = await h.signIn({ email: ADMIN_EMAIL })
  const token = await h.csrf(jar)
  const boundary = '----storm-boundary-7d1f'
  const field = (name: string, value: string): string => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`
  const head = Buffer.from(field('_csrf', token) + field('title', 'Too Big To Store') + field('description', '') + field('price', '1.00') +
    `--${boundary}\r\nContent-Disposition: form-data; name="preview"; filename="p.png"\r\nContent-Type: image/png\r\n\r\n`)
  const middle = Buffer.from(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\nContent-Type: application/pdf\r\n\r\n`)
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`)
  const chunk = Buffer.alloc(64 * 1024, 0x41)
  const CHUNKS = 20 * 16 // 20 MB
  let maxOnDisk = 0
  let sent = 0
  const contentDir = h.config.contentDir
  async function * body (): AsyncGenerator<Buffer> {
    yield head
    yield pngBytes()
    yield middle
    yield Buffer.from('%PDF-1.7\n')
    for (let i = 0; i < CHUNKS; i++) {
      // Looked at between chunks: the server has had the chance to write what came before.
      if (i % 4 === 0) maxOnDisk = Math.max(maxOnDisk, await bytesOnDisk(contentDir))
      sent += chunk.length
      yield chunk
    }
    yield tail
  }
  const response = await h.app.inject({
    method: 'POST',
    url: '/admin/content',
    headers: { cookie: jar.header, 'content-type': `multipart/form-data; boundary=${boundary}` },
    payload: Readable.from(body())
  })
  maxOnDisk = Math.max(maxOnDisk, await bytesOnDisk(contentDir))
  t.ok(response.statusCode === 400 || response.statusCode === 413, `refused with ${response.statusCode}`)
  t.match(response.body, /larger than 1 MB|too large/i, 'the page says the file is too large')
  t.comment(`sent ${(sent / 1024 / 1024).toFixed(1)} MB; at most ${(maxOnDisk / 1024).toFixed(0)} KiB was ever on disk`)
  t.ok(maxOnDisk <= 1.1 * 1024 * 1024, 'never more than ~1 MB on disk')
  t.equal(await bytesOnDisk(contentDir), 0, 'nothing is left on disk')
  t.equal((await h.app.db.selectFrom('content').selectAll().execute()).length, 0, 'no row')
})

t.test('a forged X-Forwarded-For does not reset the limit; only a proxy named in TRUST_PROXY is believed', async (t) => {
  // Default TRUST_PROXY=false: the header is ignored, whatever address it claims.
  const direct = await build(t, { RATE_LIMIT_PER_MINUTE: '2' })
  const forged = []
  for (let i = 0; i < 4; i++) {
    forged.push((await direct.app.inject({ url: '/login', remoteAddress: '203.0.113.9', headers: { 'x-forwarded-for': `198.51.100.${i}` } })).statusCode)
  }
  t.same(forged, [302, 302, 429, 429], 'a fresh forged address per request is still one client')

  // Behind a proxy at 127.0.0.1: the proxy's X-Forwarded-For names the client.
  const proxied = await build(t, { RATE_LIMIT_PER_MINUTE: '2', TRUST_PROXY: '127.0.0.1' })
  const viaProxy = async (client: string, remoteAddress = '127.0.0.1') =>
    (await proxied.app.inject({ url: '/login', remoteAddress, headers: { 'x-forwarded-for': client } })).statusCode
  t.same([await viaProxy('198.51.100.1'), await viaProxy('198.51.100.1'), await viaProxy('198.51.100.1')], [302, 302, 429])
  t.equal(await viaProxy('198.51.100.2'), 302, 'another client behind the proxy has its own allowance')
  // A client that reaches the app directly cannot pretend to be the proxy's clients.
  const sneaky = []
  for (let i = 0; i < 3; i++) sneaky.push(await viaProxy(`198.51.100.${50 + i}`, '203.0.113.7'))
  t.same(sneaky, [302, 302, 429], 'an untrusted sender\'s header is ignored')
})

t.test('a form body trickled in too slowly is cut off at the body deadline; the server sets its timeouts', async (t) => {
  const h = await build(t)
  t.equal(h.app.initialConfig.connectionTimeout, 60_000, 'an idle connection is closed after a minute')
  t.ok(h.app.server.requestTimeout >= 120_000, 'a whole request (an upload) has at least two minutes')
  await h.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = h.app.server.address() as { port: number }
  const { connect } = await import('node:net')
  const started = Date.now()
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { received += chunk })
    socket.on('close', () => { resolve(received) })
    socket.on('error', reject)
    socket.write('POST /logout HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n_csrf=')
    // One byte every 5 s: never idle long enough for the connection timeout, never finished.
    const drip = setInterval(() => { if (!socket.destroyed) socket.write('a') }, 5_000)
    socket.on('close', () => { clearInterval(drip) })
    setTimeout(() => { socket.destroy(); reject(new Error('still open after 50 s')) }, 50_000).unref()
  })
  const seconds = (Date.now() - started) / 1000
  t.ok(seconds >= 29 && seconds < 45, `cut off after the 30 s body deadline (${seconds.toFixed(1)} s)`)
  t.match(answer, /^HTTP\/1\.1 408/, 'answered 408')
})
