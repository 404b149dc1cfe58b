import type { LightMyRequestResponse } from 'fastify'
import type { CheckoutSession, StripeEvent } from '../../src/dev/stripe-emulator/index.js'
import type { Order } from '../../src/db/types.js'
import { ADMIN_EMAIL, build, type CookieJar, type Harness, type HarnessOptions, type TestContext, type UploadFields } from './build.js'

/** An app with an admin, a signed-in reader and one paid item ($5.00) in the catalogue. */
export interface Shop {
  h: Harness
  admin: CookieJar
  reader: CookieJar
  readerId: number
  slug: string
}

export async function shop (t: TestContext, env: Record<string, string> = {}, item: UploadFields = {}, options: HarnessOptions = {}): Promise<Shop> {
  const h = await build(t, env, options)
  const admin = await h.signIn({ email: ADMIN_EMAIL, sub: 'admin' })
  const uploaded = await h.upload(admin, { price: '5.00', ...item })
  if (uploaded.statusCode !== 303) throw new Error(`upload answered ${uploaded.statusCode}: ${uploaded.body.slice(0, 300)}`)
  const slug = (uploaded.headers.location as string).replace('/content/', '')
  const reader = await h.signIn({ email: 'reader@example.com', sub: 'reader' })
  return { h, admin, reader, readerId: await userId(h, 'reader@example.com'), slug }
}

export async function userId (h: Harness, email: string): Promise<number> {
  const user = await h.app.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirstOrThrow()
  return user.id
}

/** POST /checkout/<slug> with the jar's CSRF token. */
export async function checkout (h: Harness, jar: CookieJar, slug: string): Promise<LightMyRequestResponse> {
  return await h.request(jar, { method: 'POST', url: `/checkout/${slug}`, form: { _csrf: await h.csrf(jar) } })
}

export interface Started {
  sessionId: string
  order: Order
}

/** Starts a checkout that must succeed and returns its session id and our pending order. */
export async function startCheckout (h: Harness, jar: CookieJar, slug: string): Promise<Started> {
  const response = await checkout(h, jar, slug)
  const location = response.headers.location
  if (response.statusCode !== 303 || typeof location !== 'string' || !location.startsWith(`${h.stripe.url}/pay/`)) {
    throw new Error(`checkout answered ${response.statusCode} ${String(location)}: ${response.body.slice(0, 300)}`)
  }
  const sessionId = location.slice(`${h.stripe.url}/pay/`.length)
  const order = await h.app.db.selectFrom('orders').selectAll().where('provider_checkout_id', '=', sessionId).executeTakeFirstOrThrow()
  return { sessionId, order }
}

/** A checkout the reader started and paid at Stripe (by card unless said); the app has not heard of the payment yet. */
export async function paidAtStripe (s: Shop, method?: 'card' | 'bank_transfer'): Promise<Started> {
  const started = await startCheckout(s.h, s.reader, s.slug)
  await s.h.stripe.pay(started.sessionId, method)
  return started
}

export async function successPage (h: Harness, jar: CookieJar | null, sessionId: string): Promise<LightMyRequestResponse> {
  return await h.request(jar, { url: `/checkout/success?session_id=${encodeURIComponent(sessionId)}` })
}

export function session (h: Harness, sessionId: string): CheckoutSession {
  const found = h.stripe.sessions.get(sessionId)
  if (found === undefined) throw new Error(`the emulator has no session ${sessionId}`)
  return found
}

/** The last event the emulator generated of a type (the emulator has no webhook URL in tests). */
export function lastEvent (h: Harness, type: string): StripeEvent {
  const event = h.stripe.events.findLast((e) => e.type === type)
  if (event === undefined) throw new Error(`the emulator generated no ${type} event`)
  return event
}

/** A new event (new id) about the session as the emulator holds it now, with fields overridden. */
export function sessionEvent (h: Harness, type: string, sessionId: string, patch: Partial<CheckoutSession> = {}, id?: string): StripeEvent {
  return h.stripe.buildEvent(type, { ...session(h, sessionId), ...patch }, id)
}

export async function order (h: Harness, id: string): Promise<Order> {
  return await h.app.db.selectFrom('orders').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
}

export async function orders (h: Harness): Promise<Order[]> {
  return await h.app.db.selectFrom('orders').selectAll().execute()
}

export async function libraryRows (h: Harness): Promise<Array<{ user_id: number, content_id: number, order_id: string }>> {
  return await h.app.db.selectFrom('library').select(['user_id', 'content_id', 'order_id']).execute()
}

/** Everything payment-related in the database, to show that a request changed nothing. */
export async function paymentState (h: Harness): Promise<unknown> {
  return {
    orders: await h.app.db.selectFrom('orders').selectAll().orderBy('id').execute(),
    library: await h.app.db.selectFrom('library').selectAll().orderBy('order_id').execute(),
    events: await h.app.db.selectFrom('payment_events').select(['id', 'type']).orderBy('id').execute()
  }
}

/** A paid purchase through the card path and the success redirect. */
export async function buy (s: Shop): Promise<Started> {
  const started = await paidAtStripe(s)
  const page = await successPage(s.h, s.reader, started.sessionId)
  if (page.statusCode !== 200 || !page.body.includes('Thank you')) throw new Error(`success page answered ${page.statusCode}`)
  return started
}
