import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import type { Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Content, Database, Order, OrderStatus, TaxBehavior, User } from '../../db/types.js'
import { DomainError } from '../../lib/errors.js'
import { isGuest } from './guests.js'
import type { Orders } from './orders.js'
import { promotionCodesAllowed } from './promotion-codes.js'
import type { CheckoutRequest, Payments } from './providers/contract.js'
import type { Settings, StoreSettings } from '../settings/plugin.js'

/** Checkout Session ids as Stripe makes them (cs_test_..., cs_live_...). */
const SESSION_ID = /^cs_[A-Za-z0-9_]{1,250}$/
/** Our order ids (the return address of providers that cannot name their checkout in it, like Mollie). */
const ORDER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/**
 * How long a Buy holds its buyer and item across instances: longer than finding or opening a
 * Checkout Session takes, so a second Buy elsewhere waits for the first rather than opening a
 * second; a crashed instance's claim stops counting after it.
 */
const CLAIM_MS = 60_000
const CLAIM_POLL_MS = 50

export interface CheckoutStart {
  /** Where to send the buyer: the provider's hosted page, or our own page for a checkout already done. */
  url: string
  orderId: string
  resumed: boolean
}

/**
 * What the buyer's return (GET /checkout/success) found: the order's state for the page
 * ('processing' while a finished checkout's payment settles), the order as it is now, and the
 * address the provider collected (null when it was not asked).
 */
export interface CheckoutReturn {
  state: OrderStatus | 'processing'
  order: Order
  customerEmail: string | null
}

/** The buyer's return (GET /checkout/success) as the service needs it: plain values. */
export interface ConfirmRequest {
  /** The provider's checkout named in the return address (Stripe's session_id); '' when absent. */
  checkoutId: string
  /** Our order named in the return address (Mollie's); '' when absent. */
  orderId: string
  /** The signed-in user's id; null when signed out. */
  userId: number | null
  /** The orders this browser started as a guest (its session remembers them). */
  guestOrderIds: string[]
}

/**
 * What confirming found: `sign_in` when a signed-out visitor comes back for a checkout that is
 * not this browser's guest checkout (they are asked to sign in, as before); else the order's
 * state, and for this browser's guest checkout the address its receipt goes to.
 */
export type Confirmation =
  | { kind: 'sign_in' }
  | (CheckoutReturn & { kind: 'confirmed', guest: { email: string | null } | null })

export interface CheckoutOptions {
  /** A pay-what-you-want item's amount, already checked against its minimum (payWhatYouWant()). */
  amount?: number
  /** The buyer's address when we know it and the user record does not (a guest who typed it). */
  email?: string | null
}

export interface CheckoutDeps {
  db: Kysely<Database>
  runner: Runner
  orders: Orders
  payments: Payments
  settings: Settings
  /** A user by id (the accounts module's): whether an order's owner is a guest, and their address. */
  findUser: (id: number) => Promise<User | undefined>
  publicUrl: string
  log: FastifyBaseLogger
}

/**
 * A purchase, start to finish: starting it (one open checkout per buyer and item: a second Buy
 * (a double click, a second tab, Back from the payment page) while the first checkout is open goes
 * to that same checkout, so the buyer can never pay twice for one item by accident) and confirming
 * it when the buyer comes back from the provider.
 */
export function createCheckout (deps: CheckoutDeps) {
  // Clicks of one buyer on one item are taken one at a time, so two quick clicks cannot both
  // miss the open order and create two.
  const inFlight = new Map<string, Promise<unknown>>()

  return {
    async start (user: User, content: Content, options: CheckoutOptions = {}): Promise<CheckoutStart> {
      const key = `${user.id}:${content.id}`
      const previous = inFlight.get(key) ?? Promise.resolve()
      const current = previous.catch(() => {}).then(async () => await guarded(deps, user, content, options))
      inFlight.set(key, current)
      try {
        return await current
      } finally {
        if (inFlight.get(key) === current) inFlight.delete(key)
      }
    },

    /** The buyer came back from the provider: their order, checked to be theirs, fulfilled if paid. */
    async confirm (request: ConfirmRequest): Promise<Confirmation> {
      return await confirm(deps, request)
    }
  }
}

/**
 * Waits until this Buy holds its buyer and item across instances: a row in checkout_claims,
 * taken by a conditional upsert that succeeds only when nobody holds it or the holder's claim
 * ran out (a crashed instance's, after CLAIM_MS). Returns the token that releases it.
 */
async function claim ({ db, runner }: CheckoutDeps, userId: number, contentId: number): Promise<string> {
  const holder = randomUUID()
  for (;;) {
    const now = new Date()
    const until = new Date(now.getTime() + CLAIM_MS).toISOString()
    const { changes } = await runner.run(db.insertInto('checkout_claims')
      .values({ user_id: userId, content_id: contentId, holder, claimed_until: until })
      .onConflict((oc) => oc.columns(['user_id', 'content_id'])
        .doUpdateSet({ holder, claimed_until: until })
        .where('checkout_claims.claimed_until', '<', now.toISOString())))
    if (changes === 1) return holder
    await sleep(CLAIM_POLL_MS)
  }
}

async function release ({ db, runner }: CheckoutDeps, userId: number, contentId: number, holder: string): Promise<void> {
  await runner.run(db.deleteFrom('checkout_claims')
    .where('user_id', '=', userId).where('content_id', '=', contentId).where('holder', '=', holder))
}

/**
 * On PostgreSQL two clicks may land on two instances: each Buy also claims its buyer and item
 * in the database for the time it takes (see claim()). On SQLite one process serves the file,
 * and the in-process queue of createCheckout is the whole guard.
 */
async function guarded (deps: CheckoutDeps, user: User, content: Content, options: CheckoutOptions): Promise<CheckoutStart> {
  return await claimed(deps, user.id, content.id, async () => await begin(deps, user, content, options))
}

/** `work` run while this buyer and item are claimed across instances (PostgreSQL; see guarded()). */
export async function claimed<T> (deps: CheckoutDeps, userId: number, contentId: number, work: () => Promise<T>): Promise<T> {
  if (deps.runner.dialect !== 'postgres') return await work()
  const holder = await claim(deps, userId, contentId)
  try {
    return await work()
  } finally {
    // A release that fails leaves the claim to run out (CLAIM_MS); the buyer's answer stands.
    await release(deps, userId, contentId, holder).catch((error: unknown) => { deps.log.warn({ err: error }, 'could not release a checkout claim; it runs out by itself') })
  }
}

async function resume (deps: CheckoutDeps, user: User, content: Content, amount: number, taxBehavior: TaxBehavior | null): Promise<CheckoutStart | undefined> {
  const open = await deps.orders.openFor(user.id, content.id)
  // Another amount named for a pay-what-you-want item is another checkout; so is one started
  // before the store moved to another currency (npm run reprice), even at the same number, or
  // before its tax settings changed (tax on top or inside, or none).
  if (open === undefined || open.amount_cents !== amount || open.currency !== content.currency || open.tax_behavior !== taxBehavior) return undefined
  return await resumeOpen(deps, open)
}

/** An open order's checkout as the provider has it: still open (go back to it), done (the success page), or ended (the order expires). */
export async function resumeOpen ({ orders, payments }: CheckoutDeps, open: Order): Promise<CheckoutStart | undefined> {
  const session = await payments.retrieve(open.provider_checkout_id!)
  if (session.checkoutStatus === 'open' && typeof session.url === 'string') {
    return { url: session.url, orderId: open.id, resumed: true }
  }
  if (session.checkoutStatus === 'complete') {
    // Paid, or a payment settling: the success page fulfils or shows its progress.
    return { url: payments.returnUrl(open.id, session.id), orderId: open.id, resumed: true }
  }
  // Expired or failed at the provider (its webhook may still be on its way): a fresh checkout is needed.
  await orders.expire(open.id)
  return undefined
}

async function begin (deps: CheckoutDeps, user: User, content: Content, options: CheckoutOptions): Promise<CheckoutStart> {
  const { orders, payments, settings, publicUrl, log } = deps
  const amount = options.amount ?? content.price_cents
  const store = await settings.fresh()
  const { tax, invoice } = storeAsks(payments, store)
  const resumed = await resume(deps, user, content, amount, tax?.behavior ?? null)
  if (resumed !== undefined) return resumed
  // The order exists, at our price, before the provider hears of it.
  const order = await orders.create(user.id, content, amount, tax?.behavior ?? null)
  try {
    const session = await payments.createCheckout({
      order,
      title: content.title,
      customerEmail: user.email ?? options.email ?? null,
      allowPromotionCodes: promotionCodesAllowed(content, store.allowPromotionCodes),
      cancelUrl: `${publicUrl}/checkout/cancel?slug=${encodeURIComponent(content.slug)}`,
      tax,
      invoice
    })
    await orders.attachCheckout(order.id, session.id)
    log.info({ orderId: order.id, sessionId: session.id }, 'checkout started')
    return { url: session.url, orderId: order.id, resumed: false }
  } catch (error) {
    await orders.abandon(order.id)
    log.error({ err: error, orderId: order.id }, 'could not create a checkout session')
    throw error
  }
}

/** What the store's settings ask of a checkout: Stripe Tax (Mollie charges the price as it is) and Stripe's invoice. */
export function storeAsks (payments: Payments, store: StoreSettings): Pick<CheckoutRequest, 'tax' | 'invoice'> {
  return {
    tax: payments.name === 'stripe' && store.tax.automaticTax ? { behavior: store.tax.taxBehavior, code: store.tax.taxCode } : null,
    invoice: payments.name === 'stripe' && store.tax.invoices ? { sellerTaxId: store.tax.sellerTaxId === '' ? null : store.tax.sellerTaxId } : null
  }
}

/**
 * The buyer's return, checked: our own records first (an id that is not one of this user's
 * checkouts never reaches the provider); a guest's thank-you page is bound to the browser that
 * started the checkout, not to whoever holds the session id.
 */
async function confirm (deps: CheckoutDeps, request: ConfirmRequest): Promise<Confirmation> {
  const { orders, payments, findUser } = deps
  const { checkoutId, orderId, userId, guestOrderIds } = request
  if (checkoutId === '' && orderId === '') {
    throw new DomainError('invalid', 'This address is missing its checkout reference, so we cannot tell which purchase it is about. If you paid, the PDF will appear in your library shortly.')
  }
  // Stripe names its Checkout Session in the return address; Mollie returns to our order's.
  const order = checkoutId !== ''
    ? (SESSION_ID.test(checkoutId) ? await orders.byCheckoutId(checkoutId) : undefined)
    : (ORDER_ID.test(orderId) ? await orders.find(orderId) : undefined)
  const guestHere = order !== undefined && guestOrderIds.includes(order.id)
  if (userId === null && !guestHere) {
    const owner = order === undefined ? undefined : await findUser(order.user_id)
    if (owner === undefined || !isGuest(owner)) return { kind: 'sign_in' }
    throw new DomainError('forbidden', 'This checkout was started in another browser. The receipt we emailed has the download link; or sign in with the address you paid with.')
  }
  if (order === undefined || order.provider_checkout_id === null) {
    throw new DomainError('not_found', 'We could not match this checkout to an order. If you paid, contact us with your receipt.')
  }
  if (!guestHere && order.user_id !== userId) throw new DomainError('forbidden', 'This checkout belongs to another account.')
  if (order.provider !== payments.name) {
    throw new DomainError('conflict', 'This checkout was made with another payment provider than the store uses now. If you paid, the purchase is in your library or will be once we confirm it.')
  }
  const result = await returned(deps, order)
  // A guest has no library: the receipt goes to the address the provider collected (or they typed).
  const guest = guestHere ? { email: (await findUser(result.order.user_id))?.email ?? result.customerEmail } : null
  return { kind: 'confirmed', ...result, guest }
}

/**
 * An order that is decided (paid, refunded, failed, expired, under review) is answered from our
 * records: a reload of the thank-you page never reaches the provider, and nothing in it can
 * change the order anyway. A pending one is asked of the provider and fulfilled if paid.
 */
async function returned ({ orders, payments }: CheckoutDeps, order: Order): Promise<CheckoutReturn> {
  if (order.status !== 'pending') return { state: order.status, order, customerEmail: null }
  const session = await payments.retrieve(order.provider_checkout_id!)
  const { outcome, order: current } = await orders.fulfil(session, { source: 'redirect' })
  // Only a finished Checkout with a payment still settling is "processing"; a session the buyer
  // never completed (the success URL opened by hand) says the payment did not go through.
  const settling = outcome === 'processing' && session.checkoutStatus !== 'open' && session.checkoutStatus !== 'expired'
  const state = outcome === 'granted' || outcome === 'already_paid'
    ? 'paid'
    : settling ? 'processing' : (current?.status ?? order.status)
  return { state, order: current ?? order, customerEmail: session.customerEmail ?? null }
}

export type Checkout = ReturnType<typeof createCheckout>
