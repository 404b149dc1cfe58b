import { randomUUID } from 'node:crypto'
import t from 'tap'
import { openPostgres } from '../../src/db/postgres.js'
import { ADMIN_EMAIL, type CookieJar, uploadForm } from '../helpers/build.js'
import { sleep } from '../helpers/net.js'
import { makePdf } from '../helpers/pdfs.js'
import { startPostgres } from '../helpers/postgres.js'
import { startS3 } from '../helpers/s3.js'
import { csrfToken, deployment } from '../helpers/server-process.js'
import { freePort } from '../helpers/net.js'

// PDF jobs across instances: two server processes on one PostgreSQL and one bucket. A page image,
// a sample and a buyer's copy asked of both at once are made once; a job whose instance died
// holding it (its lease ran out) is run by another.

const cluster = await startPostgres(t)

const bytesOf = async (response: Response): Promise<Buffer> => Buffer.from(await response.arrayBuffer())

t.test('two instances: each PDF job runs once, whoever asks; a dead holder\'s job is run by another', { skip: cluster.skip, timeout: 110_000 }, async (t) => {
  const s3 = await startS3(t)
  const databaseUrl = await cluster.build()
  const d = await deployment(t, { DATABASE_URL: databaseUrl, ...s3.env('pdf') })
  const [a, b] = await Promise.all([d.start(), d.start({ PORT: String(await freePort()) })])
  const check = openPostgres(databaseUrl)
  t.teardown(check.close)
  const get = async (base: string, path: string, jar?: CookieJar): Promise<Response> => await fetch(`${base}${path}`, { headers: jar === undefined ? {} : { cookie: jar.header }, redirect: 'manual' })

  const admin = await d.signIn({ email: ADMIN_EMAIL })
  const form = await uploadForm({ csrf: await csrfToken(a.url, admin, '/admin/content/new'), title: 'Shared Pages', file: Buffer.from(await makePdf({ pages: 5 })), extra: { preview_pages: '2', sample_pages: '2' } })
  const uploaded = await d.upload(admin, form)
  t.equal(uploaded.status, 303)

  // Both instances asked for the same things at once.
  const asked = await Promise.all([a.url, b.url, a.url, b.url].map(async (base, i) => await get(base, i < 2 ? '/content/shared-pages/pages/1' : '/content/shared-pages/sample')))
  for (const response of asked) t.equal(response.status, 200, `${response.url}: 200`)
  const [pageA, pageB, sampleA, sampleB] = await Promise.all(asked.map(bytesOf))
  t.same(pageA, pageB, 'the same page image from both')
  t.same(sampleA, sampleB, 'the same sample from both')
  const jobs = await check.db.selectFrom('pdf_jobs').select(['kind', 'status', 'attempts']).orderBy('id').execute()
  t.same(jobs.map((j) => [j.kind, j.status, j.attempts]), [['render', 'done', 1], ['sample', 'done', 1]], 'one render and one sample job, each run once')
  t.equal((await check.db.selectFrom('pdf_assets').select('key').where('kind', '=', 'page').execute()).length, 2)

  // A buyer (the order written as the fulfilment would) downloads from both at once, stamping on.
  const settings = await fetch(`${a.url}/admin/settings`, {
    method: 'POST',
    headers: { cookie: admin.header, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: await csrfToken(a.url, admin, '/admin/settings'), store_name: 'Two Stamps', stamp_pdfs: '1' }),
    redirect: 'manual'
  })
  t.equal(settings.status, 303)
  const reader = await d.signIn({ email: 'reader@example.com', sub: 'reader' })
  const user = await check.db.selectFrom('users').select('id').where('email', '=', 'reader@example.com').executeTakeFirstOrThrow()
  const content = await check.db.selectFrom('content').select(['id', 'price_cents']).executeTakeFirstOrThrow()
  const orderId = randomUUID()
  await check.db.insertInto('orders').values({ id: orderId, user_id: user.id, content_id: content.id, amount_cents: content.price_cents, currency: 'usd', status: 'paid', paid_at: new Date().toISOString() }).execute()
  await check.db.insertInto('library').values({ user_id: user.id, content_id: content.id, order_id: orderId }).execute()
  const downloads = await Promise.all([a.url, b.url].map(async (base) => await get(base, '/content/shared-pages/download', reader)))
  for (const response of downloads) t.equal(response.status, 200, `${response.url}: 200`)
  const [copyA, copyB] = await Promise.all(downloads.map(bytesOf))
  t.same(copyA, copyB, 'one copy, served by both')
  t.ok(copyA!.includes(Buffer.from(orderId)), 'the order id is in it')
  t.equal((await check.db.selectFrom('stamped_copies').select('key').execute()).length, 1)
  t.equal((await check.db.selectFrom('pdf_jobs').select('id').where('kind', '=', 'stamp').execute()).length, 1)

  // A job held by an instance that died (its lease ran out) is run by one of the living.
  const version = await check.db.selectFrom('content_versions').select('version').where('content_id', '=', content.id).executeTakeFirstOrThrow()
  await check.db.insertInto('pdf_jobs').values({
    job_key: `render:${content.id}:${version.version}:4`,
    kind: 'render',
    content_id: content.id,
    version: version.version,
    pages: 4,
    attempts: 1,
    claimed_by: 'gone-host:1/1.dead',
    claimed_until: new Date(Date.now() - 1000).toISOString()
  }).execute()
  const deadline = Date.now() + 30_000
  let status: string | undefined
  while (Date.now() < deadline) {
    status = (await check.db.selectFrom('pdf_jobs').select('status').where('job_key', '=', `render:${content.id}:${version.version}:4`).executeTakeFirst())?.status
    if (status === 'done') break
    await sleep(200)
  }
  t.equal(status, 'done', 'the dead holder\'s job ran once its lease ran out')
  t.equal((await check.db.selectFrom('pdf_assets').select('key').where('kind', '=', 'page').execute()).length, 4, 'pages 3 and 4 made')
})
