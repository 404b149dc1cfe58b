import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import t from 'tap'
import { ADMIN_EMAIL, build } from './helpers/build.js'
import { pngBytes } from './helpers/fixtures.js'
import { seedContent } from './helpers/seed.js'

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
