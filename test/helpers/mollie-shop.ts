import type { CookieJar, Harness, TestContext } from './build.js'
import { fakeMollie, type FakeMollie } from './fake-mollie.js'
import { shop, type Shop } from './purchase.js'

// The client speaks only https and pins its own CA bundle: the fake's certificate is self-signed.
// (Node reads the variable at each TLS connection, so setting it when this module loads is enough.)
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'

/** The clock of the app's webhook bounds: it moves only when the test says. */
export interface TestClock {
  now: () => number
  advance: (ms: number) => void
}

export function testClock (start = Date.now()): TestClock {
  let ms = start
  return { now: () => ms, advance: (by) => { ms += by } }
}

/** Longer than a payment's lookup window (10 s): the next notification for it is looked up. */
export const PAST_WINDOW_MS = 10_001

export interface MollieShop extends Shop { mollie: FakeMollie, clock: TestClock }

/** A shop selling through Mollie (the fake), with a clock the test moves. */
export async function mollieShop (t: TestContext, env: Record<string, string> = {}): Promise<MollieShop> {
  const mollie = await fakeMollie(t)
  const clock = testClock()
  const s = await shop(t, { PAYMENT_PROVIDER: 'mollie', MOLLIE_API_KEY: mollie.apiKey, MOLLIE_API_URL: mollie.apiEndpoint, STORE_CURRENCY: 'eur', ...env }, {}, { now: clock.now })
  return { ...s, mollie, clock }
}

export interface HookAnswer { statusCode: number, retryAfter: string | undefined, body: Record<string, unknown> }

/** Mollie's webhook call: a form with the payment id and nothing else (from `client`, an address). */
export async function webhook (h: Harness, id: string, client = '127.0.0.1'): Promise<HookAnswer> {
  const response = await h.app.inject({ method: 'POST', url: '/webhooks/mollie', remoteAddress: client, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `id=${encodeURIComponent(id)}` })
  const retryAfter = response.headers['retry-after']
  return {
    statusCode: response.statusCode,
    retryAfter: retryAfter === undefined ? undefined : String(retryAfter),
    body: response.headers['content-type']?.toString().includes('json') === true ? response.json() : {}
  }
}

/** A later notification, as Mollie sends one: past the payment's lookup window. */
export async function laterWebhook (s: MollieShop, id: string): Promise<HookAnswer> {
  s.clock.advance(PAST_WINDOW_MS)
  return await webhook(s.h, id)
}

/**
 * Notifications delivered as Mollie does: all at once, and each answered 503 sent again after
 * the window, until every one is answered otherwise. The final answers, in the order given.
 */
export async function deliverLikeMollie (s: MollieShop, ids: string[]): Promise<HookAnswer[]> {
  const answers: Array<HookAnswer | undefined> = ids.map(() => undefined)
  let waiting = ids.map((_, index) => index)
  for (let round = 0; waiting.length > 0; round++) {
    if (round > 0) s.clock.advance(PAST_WINDOW_MS)
    if (round > ids.length) throw new Error('notifications still answered 503 after every round')
    const got = await Promise.all(waiting.map(async (index) => await webhook(s.h, ids[index]!)))
    got.forEach((answer, i) => { answers[waiting[i]!] = answer })
    waiting = waiting.filter((_, i) => got[i]!.statusCode === 503)
  }
  return answers as HookAnswer[]
}

/** GETs of one payment (or of any) that reached the fake Mollie. */
export function lookups (mollie: FakeMollie, paymentId?: string): number {
  return mollie.requests.filter((r) => r.method === 'GET' && (paymentId === undefined ? r.path.startsWith('/v2/payments/') : r.path === `/v2/payments/${paymentId}`)).length
}

/** The reader's Buy: the order, and the Mollie payment behind the 303. */
export async function startMollie (s: MollieShop, jar = s.reader, form: Record<string, string> = {}): Promise<{ paymentId: string, orderId: string, location: string }> {
  const page = await s.h.request(jar, { url: `/content/${s.slug}` })
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? await s.h.csrf(jar)
  const response = await s.h.request(jar, { method: 'POST', url: `/checkout/${s.slug}`, form: { _csrf: csrf, ...form } })
  if (response.statusCode !== 303) throw new Error(`checkout answered ${response.statusCode}: ${response.body.slice(0, 300)}`)
  const created = [...s.mollie.payments.values()].at(-1)!
  const orderId = (created.metadata as { order_id: string }).order_id
  return { paymentId: created.id, orderId, location: response.headers.location as string }
}

export const successPage = async (s: MollieShop, jar: CookieJar | null, orderId: string) =>
  await s.h.request(jar, { url: `/checkout/success?order_id=${orderId}` })

export const timeline = async (h: Harness, orderId: string) =>
  (await h.app.db.selectFrom('order_events').select(['kind', 'detail']).where('order_id', '=', orderId).orderBy('id').execute())
