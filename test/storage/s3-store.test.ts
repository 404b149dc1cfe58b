import { createHash, randomUUID } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { CopyObjectCommand, DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import SQLite from 'better-sqlite3'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { ConfigError, loadConfig } from '../../src/config.js'
import type { ObjectStore } from '../../src/storage/store.js'
import { ADMIN_EMAIL, build, type CookieJar, type Harness, testEnv } from '../helpers/build.js'
import { pdfBytes, pngBytes } from '../helpers/fixtures.js'
import { edit, item, post } from '../helpers/items.js'
import { sleep } from '../helpers/net.js'
import { BUCKET, type S3Server, startS3 } from '../helpers/s3.js'
import { deployment } from '../helpers/server-process.js'

const MIB = 1024 * 1024
const MINUTE = 60_000

interface S3Shop { s3: S3Server, h: Harness, admin: CookieJar, reader: CookieJar, slug: string }

/** An app keeping its files under s3://market/<prefix> of a fresh s3rver, with one free item uploaded. */
async function s3Shop (t: Test, options: { env?: Record<string, string>, file?: Buffer, prefix?: string } = {}): Promise<S3Shop> {
  const s3 = await startS3(t)
  const h = await build(t, { ...s3.env(options.prefix ?? 'shop'), ...options.env })
  const admin = await h.signIn({ email: ADMIN_EMAIL, sub: 'admin' })
  const uploaded = await h.upload(admin, { title: 'In The Bucket', price: '0', file: options.file })
  if (uploaded.statusCode !== 303) throw new Error(`upload answered ${uploaded.statusCode}: ${uploaded.body.slice(0, 300)}`)
  const reader = await h.signIn({ email: 'reader@example.com', sub: 'reader' })
  return { s3, h, admin, reader, slug: 'in-the-bucket' }
}

/** Another app on the harness's database (unless `env` changes it), Stripe and provider. */
async function another (t: Test, h: Harness, env: Record<string, string>): Promise<FastifyInstance> {
  const app = await buildApp(loadConfig(testEnv(h.dir, h.stripe.url, h.idp.url, env)))
  t.teardown(async () => { await app.close() })
  await app.ready()
  return app
}

async function refusal (t: Test, h: Harness, env: Record<string, string>): Promise<ConfigError> {
  try {
    await another(t, h, env)
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error('the app started')
}

const downloadRows = async (h: Harness): Promise<number> =>
  (await h.app.db.selectFrom('downloads').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n

t.test('a large upload goes to the bucket in parts and downloads byte-identical, with Range (206), HEAD and If-None-Match', async (t) => {
  const big = pdfBytes('Big book', 12 * MIB + 321)
  const { s3, h, reader, slug } = await s3Shop(t, { file: big })
  const row = await item(h, slug)
  t.equal(row.file_size, big.length)
  t.equal(row.sha256, createHash('sha256').update(big).digest('hex'), 'hashed while streaming')
  t.same(await s3.keys('shop'), ['shop/.store-id', `shop/${row.file_key}`, `shop/${row.preview_key}`].sort(), 'the PDF, the cover and the store id are objects under the prefix')
  t.same(await readdir(h.config.contentDir).catch(() => []), [], 'nothing was written to CONTENT_DIR')

  const download = await h.request(reader, { url: `/content/${slug}/download` })
  t.equal(download.statusCode, 200)
  t.equal(download.headers['content-type'], 'application/pdf')
  t.equal(download.headers['content-disposition'], `attachment; filename="${row.file_name === 'guide.pdf' ? 'in-the-bucket.pdf' : row.file_name}"`)
  t.equal(download.headers['content-length'], String(big.length))
  t.ok(download.rawPayload.equals(big), 'byte-identical to the upload')

  const range = await h.request(reader, { url: `/content/${slug}/download`, headers: { range: 'bytes=100-199' } })
  t.equal(range.statusCode, 206)
  t.equal(range.headers['content-range'], `bytes 100-199/${big.length}`)
  t.ok(range.rawPayload.equals(big.subarray(100, 200)), 'the asked bytes')
  const beyond = await h.request(reader, { url: `/content/${slug}/download`, headers: { range: `bytes=${big.length + 10}-` } })
  t.equal(beyond.statusCode, 416)
  t.equal(beyond.headers['content-range'], `bytes */${big.length}`)

  const head = await h.request(reader, { method: 'HEAD', url: `/content/${slug}/download` })
  t.equal(head.statusCode, 200)
  t.equal(head.headers['content-length'], String(big.length))
  t.equal(head.body, '')
  const etag = download.headers.etag as string
  t.equal((await h.request(reader, { url: `/content/${slug}/download`, headers: { 'if-none-match': etag } })).statusCode, 304)
  t.equal(await downloadRows(h), 1, 'the download and its Range request are one download in the log')

  const preview = await h.request(null, { url: `/content/${slug}/preview` })
  t.equal(preview.statusCode, 200)
  t.ok(preview.rawPayload.equals(pngBytes()), 'the cover, streamed from the bucket')
})

t.test('a wrong-type or oversize upload is refused and leaves no object in the bucket', async (t) => {
  const s3 = await startS3(t)
  const h = await build(t, { ...s3.env('shop'), MAX_UPLOAD_MB: '6' })
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  const before = await s3.keys('shop')
  t.same(before, ['shop/.store-id'])

  const wrong = await h.upload(admin, { file: Buffer.concat([Buffer.from('GIF89a'), Buffer.alloc(MIB, 1)]) })
  t.equal(wrong.statusCode, 400)
  t.match(wrong.body, /must be a PDF/)
  // Over 6 MiB: the first 5 MiB part is already uploaded when the limit is hit, so the multipart upload is aborted.
  const large = await h.upload(admin, { file: pdfBytes('too big', 8 * MIB) })
  t.equal(large.statusCode, 400)
  t.match(large.body, /larger than 6 MB/)
  t.same(await s3.keys('shop'), before, 'no object was left, not even the valid cover of the refused forms')
  t.equal(await h.app.db.selectFrom('content').select('id').executeTakeFirst(), undefined)
})

t.test('a new version is a new object, the earlier one still downloads, and deleting an item nobody ordered removes its objects', async (t) => {
  const { s3, h, admin, slug } = await s3Shop(t)
  const first = await item(h, slug)
  const second = pdfBytes('Second edition')
  t.equal((await edit(h, admin, slug, { title: 'In The Bucket', file: second, changelog: 'Rewritten' })).statusCode, 303)
  const latest = await item(h, slug)
  t.not(latest.file_key, first.file_key)
  t.same(await s3.keys('shop'), ['shop/.store-id', `shop/${first.file_key}`, `shop/${latest.file_key}`, `shop/${first.preview_key}`].sort())
  t.ok((await h.request(admin, { url: `/content/${slug}/download` })).rawPayload.equals(second), 'the latest')
  t.ok((await h.request(admin, { url: `/content/${slug}/download?version=1` })).rawPayload.equals(pdfBytes()), 'version 1')

  const deleted = await post(h, admin, `/admin/content/${slug}/delete`)
  t.equal(deleted.statusCode, 303)
  t.same(await s3.keys('shop'), ['shop/.store-id'], 'both versions and the cover are gone; the store id stays')
})

t.test('DOWNLOAD_OFFLOAD=redirect answers 302 to a presigned URL valid 60 s that the object store serves as an attachment', async (t) => {
  const { h, reader, slug } = await s3Shop(t, { env: { DOWNLOAD_OFFLOAD: 'redirect' } })
  const row = await item(h, slug)
  const answer = await h.request(reader, { url: `/content/${slug}/download` })
  t.equal(answer.statusCode, 302)
  t.equal(answer.headers['cache-control'], 'private, no-store')
  const location = new URL(answer.headers.location as string)
  t.equal(location.searchParams.get('X-Amz-Expires'), '60', 'signed for 60 seconds')
  t.equal(location.searchParams.get('response-content-disposition'), 'attachment; filename="in-the-bucket.pdf"')
  t.equal(location.searchParams.get('response-content-type'), 'application/pdf')
  t.equal(await downloadRows(h), 1, 'counted in the download log before the redirect')

  const fetched = await fetch(location)
  t.equal(fetched.status, 200)
  t.equal(fetched.headers.get('content-disposition'), 'attachment; filename="in-the-bucket.pdf"')
  t.equal(fetched.headers.get('content-type'), 'application/pdf')
  t.ok(Buffer.from(await fetched.arrayBuffer()).equals(pdfBytes()), 'byte-identical, straight from the object store')

  const head = await h.request(reader, { method: 'HEAD', url: `/content/${slug}/download` })
  t.equal(head.statusCode, 200, 'a HEAD is answered by the app (a presigned GET URL takes no HEAD)')
  t.equal(head.headers['content-length'], String(row.file_size))

  // The store enforces the signature's lifetime: a URL signed for one second is refused after it.
  const short = await (h.app.files as ObjectStore).presign(row.file_key, { fileName: 'x.pdf', contentType: 'application/pdf', seconds: 1 })
  await sleep(2100)
  t.equal((await fetch(short)).status, 403, 'an expired URL is refused')
  const stale = await fetch(location)
  t.equal(stale.status, 200, 'the 60-second one still works')
  await stale.arrayBuffer()
})

t.test('an object gone from the bucket answers the 503 page and /healthz degraded; a bucket that does not answer is degraded too', async (t) => {
  const { s3, h, reader, slug } = await s3Shop(t)
  const row = await item(h, slug)
  t.same((await h.app.inject('/healthz')).json(), { status: 'ok' })
  await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `shop/${row.file_key}` }))
  const download = await h.request(reader, { url: `/content/${slug}/download` })
  t.equal(download.statusCode, 503)
  t.match(download.body, /This PDF&#39;s file is missing from the store/)
  const health = await h.app.inject('/healthz')
  t.equal(health.statusCode, 503)
  t.same(health.json(), { status: 'degraded', missingFiles: 1 })

  await s3.close()
  const down = await h.app.inject('/healthz')
  t.equal(down.statusCode, 503)
  t.same(down.json(), { status: 'degraded', missingFiles: 1, storage: 'unavailable' })
})

t.test('a database beside another store\'s prefix is refused like a mistyped folder, and no object is touched', async (t) => {
  const { s3, h } = await s3Shop(t, { prefix: 'one' })
  const before = await s3.keys('one')
  const mistyped = await refusal(t, h, { ...s3.env('one'), DATABASE_URL: join(h.dir, 'mistyped.db') })
  t.equal(mistyped.variable, 'DATABASE_URL')
  t.match(mistyped.message, /STORAGE_URL s3:\/\/market\/one/)
  t.same(await s3.keys('one'), before)

  const empty = await refusal(t, h, s3.env('empty'))
  t.equal(empty.variable, 'STORAGE_URL', 'a prefix holding none of the database\'s files is the wrong one')
  t.same(await s3.keys('empty'), [], 'not even a marker was written')

  await another(t, h, { ...s3.env('two'), DATABASE_URL: join(h.dir, 'other.db') })
  const other = await refusal(t, h, s3.env('two'))
  t.equal(other.variable, 'DATABASE_URL')
  t.match(other.message, /belongs to store .* but STORAGE_URL s3:\/\/market\/two belongs to store/)
})

t.test('at start an object no row refers to is moved under .quarantine/ inside the window; a newer one stays', async (t) => {
  const { s3, h } = await s3Shop(t)
  const crashed = `${randomUUID()}.pdf`
  const inFlight = `${randomUUID()}.pdf`
  for (const name of [crashed, inFlight]) {
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `shop/${name}`, Body: pdfBytes(name) }))
  }
  await s3.age(`shop/${crashed}`, 5 * MINUTE)
  const app = await another(t, h, s3.env('shop'))
  const keys = await s3.keys('shop')
  t.ok(keys.includes(`shop/.quarantine/${crashed}`), 'the crash\'s leftover is under .quarantine/')
  t.notOk(keys.includes(`shop/${crashed}`))
  t.ok(keys.includes(`shop/${inFlight}`), 'a 0-second-old object (another instance\'s upload about to commit) stays')
  t.same((await app.inject('/healthz')).json(), { status: 'ok' })
})

t.test('a restore is the database snapshot and a copy of the prefix: the restored store binds and serves the same bytes', async (t) => {
  const { s3, h, reader, slug } = await s3Shop(t)
  const snapshot = join(h.dir, 'snapshot.db')
  const source = new SQLite(h.config.databasePath, { readonly: true })
  await source.backup(snapshot)
  source.close()
  // What `aws s3 sync s3://market/shop s3://market/restored` does, after the snapshot.
  for (const key of await s3.keys('shop')) {
    await s3.client.send(new CopyObjectCommand({ Bucket: BUCKET, Key: key.replace(/^shop\//, 'restored/'), CopySource: `${BUCKET}/${key}` }))
  }
  const restored = await another(t, h, { ...s3.env('restored'), DATABASE_URL: snapshot })
  const download = await restored.inject({ url: `/content/${slug}/download`, headers: { cookie: reader.header } })
  t.equal(download.statusCode, 200)
  t.ok(download.rawPayload.equals(pdfBytes()))
  t.same((await restored.inject('/healthz')).json(), { status: 'ok' })
})

t.test('a server on S3 prints only its own log lines: no AWS SDK NodeVersionSupportWarning, and at most one line of its own saying which Node to upgrade to', async (t) => {
  const s3 = await startS3(t)
  // A process of its own: the SDK warns once per process, and this one already made a client.
  const d = await deployment(t, s3.env('shop'))
  const server = await d.start()
  await server.kill('SIGTERM')
  const lines = server.output().split('\n').filter((line) => line.trim() !== '')
  t.notMatch(server.output(), /NodeVersionSupportWarning|\(node:\d+\) Warning/, 'no process warning on stderr')
  const foreign = lines.filter((line) => { try { JSON.parse(line); return false } catch { return true } })
  t.same(foreign, [], 'every line is one of the app\'s JSON log lines')
  const about = lines.filter((line) => /AWS SDK/.test(line))
  const major = Number(process.versions.node.split('.')[0])
  if (major < 22) {
    t.equal(about.length, 1, 'one line of the app\'s own about the AWS SDK and Node')
    t.match(JSON.parse(about[0]!), { level: 40, msg: /Node 22/ })
  } else {
    t.same(about, [], 'on Node 22 or later nothing to say')
  }
})
