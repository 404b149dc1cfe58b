import { createHash } from 'node:crypto'
import { hostname } from 'node:os'
import { sql } from 'kysely'
import t from 'tap'
import { migrations } from '../../migrations/index.js'
import { openPostgres } from '../../src/db/postgres.js'
import { ADMIN_EMAIL, type CookieJar, uploadForm } from '../helpers/build.js'
import { pdfBytes } from '../helpers/fixtures.js'
import { freePort, sleep } from '../helpers/net.js'
import { startPostgres } from '../helpers/postgres.js'
import { fuzzSeed, seededRandom } from '../helpers/random.js'
import { startS3 } from '../helpers/s3.js'
import { csrfToken, deployment } from '../helpers/server-process.js'
import { smtpLog } from '../helpers/smtp.js'
import { pool } from '../helpers/pool.js'

// Several stateless instances on one PostgreSQL and one bucket keep every guarantee of one:
// two real server processes share a throwaway cluster and an s3rver; the Stripe emulator's
// events and the buyers' returns are split across both, one instance is SIGKILLed mid-storm and
// restarted, and what it did not answer is delivered again, as Stripe and browsers would.

const cluster = await startPostgres(t)

const BUYERS = 24
const ITEMS = 10
const ORDERS = BUYERS * ITEMS
const STORE_NAME = 'Scale Market'

const sha = (bytes: Buffer | Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

t.test('two instances on one PostgreSQL and one bucket: a storm split across both, one SIGKILLed and restarted, grants and receipts exactly once; uploads, catalogue and settings seen by both at once', { skip: cluster.skip, timeout: 110_000 }, async (t) => {
  const started = Date.now()
  const seed = fuzzSeed()
  const random = seededRandom(seed)
  const { note } = seed
  t.comment(`scale-out ${note}`)
  const s3 = await startS3(t)
  const smtp = await smtpLog(t)
  const databaseUrl = await cluster.build()
  const d = await deployment(t, { DATABASE_URL: databaseUrl, ...s3.env('shop'), SMTP_URL: smtp.url })
  const portB = await freePort()
  // Started together: the migrator's lock lets one migrate while the other waits.
  let [a, b] = await Promise.all([d.start(), d.start({ PORT: String(portB) })])
  const killedB = b
  const A = a.url
  const B = b.url
  const other = (base: string): string => base === A ? B : A
  const pick = (): string => random() < 0.5 ? A : B
  const check = openPostgres(databaseUrl)
  t.teardown(check.close)
  const applied = await sql<{ n: number }>`SELECT count(*) AS n FROM kysely_migration`.execute(check.db)
  t.equal(applied.rows[0]!.n, Object.keys(migrations).length, 'both instances started together; the migrations ran once')

  // Uploads alternate between the instances; each is in the other's catalogue at once and
  // downloads byte-identical there.
  const admin = await d.signIn({ email: ADMIN_EMAIL })
  const uploadToken = await csrfToken(A, admin, '/admin/content/new')
  const slugs: string[] = []
  const titles: string[] = []
  for (let i = 0; i < ITEMS; i++) {
    const base = i % 2 === 0 ? A : B
    const title = `Scale item ${i}`
    const file = pdfBytes(`scale ${i}`, 48 * 1024 + i * 1000)
    const form = await uploadForm({ csrf: uploadToken, title, price: `${i + 2}.00`, file, fileName: `scale-${i}.pdf` })
    const response = await fetch(`${base}/admin/content`, { method: 'POST', headers: { cookie: admin.header, 'content-type': form.contentType }, body: form.body, redirect: 'manual' })
    t.equal(response.status, 303, `upload ${i} on ${base === A ? 'A' : 'B'} is stored`)
    const slug = new URL(response.headers.get('location')!, base).pathname.split('/').at(-1)!
    slugs.push(slug)
    titles.push(title)
    const catalogue = await (await fetch(`${other(base)}/`)).text()
    t.match(catalogue, `${title}<`, `upload ${i} is in the other instance's catalogue at once`)
    const download = await fetch(`${other(base)}/content/${slug}/download`, { headers: { cookie: admin.header } })
    t.equal(download.status, 200)
    t.equal(sha(Buffer.from(await download.arrayBuffer())), sha(file), `upload ${i} downloads byte-identical from the other instance`)
  }

  // The store's settings saved on A show on B's next page and its policies.
  const settingsToken = await csrfToken(A, admin, '/admin/settings')
  const saved = await fetch(`${A}/admin/settings`, {
    method: 'POST',
    headers: { cookie: admin.header, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: settingsToken, store_name: STORE_NAME, tagline: 'Two instances, one store', contact_email: 'help@example.com', refund_policy: 'Refunds within 14 days, on every instance.' }),
    redirect: 'manual'
  })
  t.equal(saved.status, 303, 'settings saved on A')
  t.match(await (await fetch(`${B}/`)).text(), STORE_NAME, 'B\'s next page shows the new store name')
  t.match(await (await fetch(`${B}/policies`)).text(), 'Refunds within 14 days, on every instance.', 'and its policies page the new policy')

  // Buyers sign in (on A; the session cookie is good on B too: one SESSION_SECRET).
  const buyers: Array<{ email: string, jar: CookieJar, token: string }> = []
  for (let i = 0; i < BUYERS; i++) {
    const email = `scale-${i}@example.com`
    const jar = await d.signIn({ email, sub: `scale-${i}` })
    buyers.push({ email, jar, token: await csrfToken(pick(), jar) })
  }
  const buy = async (buyer: number, item: number, base: string): Promise<string> => {
    const { jar, token } = buyers[buyer]!
    const response = await fetch(`${base}/checkout/${slugs[item]!}`, {
      method: 'POST',
      headers: { cookie: jar.header, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: token }),
      redirect: 'manual'
    })
    await response.arrayBuffer()
    if (response.status !== 303) throw new Error(`Buy on ${base} answered ${response.status}`)
    return response.headers.get('location')!
  }

  // A double click whose two halves land on the two instances reaches one Checkout Session.
  const [first, second] = await Promise.all([buy(0, 0, A), buy(0, 0, B)])
  t.equal(first, second, 'two simultaneous Buys on A and B go to the same Checkout Session')

  // A real Checkout Session in the emulator for every buyer and item, started on either instance.
  const checkoutStart = Date.now()
  const pairs = buyers.flatMap((_, buyer) => titles.map((__, item) => ({ buyer, item })))
  const locations = await pool(pairs.map(({ buyer, item }) => async () => await buy(buyer, item, pick())), 12)
  const sessionIds = locations.map((location) => new URL(location).pathname.split('/').at(-1)!)
  t.equal(new Set(sessionIds).size, ORDERS, `${ORDERS} orders, each with its own Checkout Session`)
  t.comment(`${ORDERS} checkouts in ${Date.now() - checkoutStart} ms`)

  // Stripe's side: every session is paid (the events are recorded; we deliver them).
  for (const id of sessionIds) await d.stripe.pay(id)
  const completed = d.stripe.events.filter((event) => event.type === 'checkout.session.completed')
  t.equal(completed.length, ORDERS, 'one completed event per order')

  type Delivery = { kind: 'event', payload: string, id: string } | { kind: 'return', buyer: number, sessionId: string }
  const deliveries: Delivery[] = []
  const eventIds = new Set<string>()
  for (const event of completed) {
    const payload = JSON.stringify(event)
    eventIds.add(event.id)
    deliveries.push({ kind: 'event', payload, id: event.id }, { kind: 'event', payload, id: event.id })
  }
  pairs.forEach(({ buyer }, index) => {
    if (index % 2 === 0) deliveries.push({ kind: 'return', buyer, sessionId: sessionIds[index]! })
    if (index % 5 === 0) {
      // Re-sent under a new id.
      const event = d.stripe.buildEvent('checkout.session.completed', { ...d.stripe.sessions.get(sessionIds[index]!)! })
      eventIds.add(event.id)
      deliveries.push({ kind: 'event', payload: JSON.stringify(event), id: event.id })
    }
  })
  for (let i = deliveries.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[deliveries[i], deliveries[j]] = [deliveries[j]!, deliveries[i]!]
  }

  async function deliver (delivery: Delivery, base: string): Promise<number> {
    try {
      if (delivery.kind === 'event') {
        const response = await fetch(`${base}/webhooks/stripe`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'stripe-signature': d.stripe.sign(delivery.payload) },
          body: delivery.payload
        })
        await response.arrayBuffer()
        return response.status
      }
      const response = await fetch(`${base}/checkout/success?session_id=${delivery.sessionId}`, { headers: { cookie: buyers[delivery.buyer]!.jar.header } })
      const page = await response.text()
      return response.status === 200 && page.includes('Thank you') ? 200 : response.status
    } catch {
      return 0 // no answer: the instance is gone
    }
  }

  // The storm, split across both; B is killed when 40% has been answered.
  const statuses: number[] = new Array(deliveries.length)
  let done = 0
  const stormStart = Date.now()
  const storm = pool(deliveries.map((delivery, index) => async () => {
    statuses[index] = await deliver(delivery, pick())
    done++
  }), 24)
  const killDeadline = Date.now() + 30_000
  while (done < deliveries.length * 0.4 && Date.now() < killDeadline) await sleep(2)
  const killed = await b.kill('SIGKILL')
  t.equal(killed.signal, 'SIGKILL', `instance B was SIGKILLed after ${done} of ${deliveries.length} deliveries`)
  await storm
  const unanswered = deliveries.filter((_, index) => statuses[index] !== 200)
  t.same([...new Set(statuses.filter((status) => status !== 200))], unanswered.length === 0 ? [] : [0], 'every delivery was answered 200, but those that reached the dead instance (no answer)')
  t.comment(`storm: ${deliveries.length} deliveries in ${Date.now() - stormStart} ms, ${unanswered.length} unanswered by the dead instance`)

  // What the killed instance held of the outbox when it died: it may have reached the SMTP server
  // before the kill (a receipt then goes twice, the outbox's at-least-once); nothing else may.
  const instanceB = `${hostname()}:${portB}/`
  const heldByB = await check.runner.all(check.db.selectFrom('outbox').select(['to_address', 'order_id'])
    .where('sent_at', 'is', null).where(sql<string>`substr(claimed_by, 1, ${sql.lit(instanceB.length)})`, '=', instanceB))
  t.ok(heldByB.length <= 1, `the dead instance held at most one mail (it sends one at a time): ${heldByB.length}`)

  b = await d.start({ PORT: String(portB) })
  // Stripe retries what got no 2xx; browsers come back; either instance may take them.
  const redelivered = await pool(unanswered.map((delivery) => async () => await deliver(delivery, pick())), 12)
  t.same([...new Set(redelivered)], unanswered.length === 0 ? [] : [200], `${unanswered.length} redeliveries after the restart all answered 200`)

  // Every paid order granted exactly once, every event recorded once.
  const orders = await check.runner.all(check.db.selectFrom('orders').select(['id', 'status', 'user_id', 'content_id']))
  t.equal(orders.length, ORDERS, `${ORDERS} orders`)
  t.equal(orders.filter((order) => order.status === 'paid').length, ORDERS, 'every order paid')
  const library = await check.runner.all(check.db.selectFrom('library').select('order_id'))
  t.equal(library.length, ORDERS, `exactly ${ORDERS} grants`)
  t.equal(new Set(library.map((row) => row.order_id)).size, ORDERS, `no order granted twice, ${note}`)
  const events = await check.runner.first(check.db.selectFrom('payment_events').select((eb) => eb.fn.countAll<number>().as('n')))
  t.equal(events?.n, eventIds.size, `every distinct event id recorded once (${eventIds.size}), none lost`)
  // The grant is logged inside its transaction: the killed instance may have logged grants whose
  // commit the kill cut off (another instance granted them again), so only the survivors count.
  const logged = (server: { output(): string }): number => (server.output().match(/order paid and granted/g) ?? []).length
  t.ok(logged(a) + logged(b) <= ORDERS, `no grant logged twice by the instances that lived (${logged(a)} + ${logged(b)}, and ${logged(killedB)} by the killed one)`)

  // Every receipt sent exactly once, by whichever instance claimed it.
  const deadline = Date.now() + 30_000
  let waiting = Number.POSITIVE_INFINITY
  while (Date.now() < deadline) {
    waiting = (await check.runner.first(check.db.selectFrom('outbox').select((eb) => eb.fn.countAll<number>().as('n')).where('sent_at', 'is', null)))!.n
    if (waiting === 0) break
    await sleep(100)
  }
  t.equal(waiting, 0, 'the outbox is empty')
  await sleep(200)
  const receipts = new Map<string, number>()
  for (const mail of smtp.received()) {
    const key = `${mail.to.join(',')}|${mail.subject}`
    receipts.set(key, (receipts.get(key) ?? 0) + 1)
  }
  const emailOf = new Map(buyers.map((buyer, index) => [index, buyer.email]))
  const expected = pairs.map(({ buyer, item }) => `${emailOf.get(buyer)!}|Your receipt from ${STORE_NAME}: ${titles[item]!}`)
  const titleOf = new Map((await check.runner.all(check.db.selectFrom('orders').innerJoin('content', 'content.id', 'orders.content_id').select(['orders.id', 'content.title'])))
    .map((row) => [row.id, row.title]))
  const mayRepeat = new Set(heldByB.map((row) => `${row.to_address}|Your receipt from ${STORE_NAME}: ${titleOf.get(row.order_id!)!}`))
  const missing = expected.filter((key) => receipts.get(key) === undefined)
  const twice = expected.filter((key) => (receipts.get(key) ?? 0) > 1 && !mayRepeat.has(key))
  t.same(missing, [], 'every paid order\'s receipt arrived')
  t.same(twice, [], `no receipt arrived twice (but the one the killed instance may have been sending: ${mayRepeat.size}), ${note}`)
  t.equal(receipts.size, ORDERS, 'no other mail')
  const senders = [killedB, a, b].map((server) => (server.output().match(/"msg":"mail sent"/g) ?? []).length)
  t.ok(senders[1]! > 0 && senders[0]! + senders[2]! > 0, `both instances sent receipts (A ${senders[1]}, B ${senders[0]} before the kill and ${senders[2]} after)`)

  for (const server of [a, b]) t.equal((await fetch(`${server.url}/healthz`)).status, 200, `${server.url} is healthy`)
  t.comment(`figures: instances=2 orders=${ORDERS} deliveries=${deliveries.length} (unanswered by the killed one ${unanswered.length}) grants=${library.length} receipts=${smtp.received().length} in ${Date.now() - started} ms`)
  await Promise.all([a.kill('SIGTERM'), b.kill('SIGTERM')])
})
