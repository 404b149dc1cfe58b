// A small Stripe-compatible server for demo mode and tests. It speaks the same wire format as
// api.stripe.com for the subset the app uses (Checkout Sessions, refunds, and the promotion codes and
// Payment Links a seller sets up), serves a hosted checkout page, Payment Link pages and a payments
// dashboard, and delivers signed webhooks, so the real `stripe` SDK and the app's webhook
// verification run unmodified against it. A Fastify app of its own:
//   api.ts             the /v1 routes (Checkout Sessions, refunds, coupons, promotion codes,
//                      prices, Payment Links)
//   params.ts          checkout.sessions.create's and refunds.create's parameters, validated like Stripe
//   catalog-params.ts  the parameters of the catalog objects' routes, validated like Stripe
//   state.ts           sessions, payment intents, charges and refunds, and the events they emit
//   catalog.ts         coupons, promotion codes, prices and Payment Links
//   webhooks.ts        events, signing, delivery with retries
//   pages.ts           the hosted checkout page, Payment Link pages and the payments dashboard
//                      (views/dev/stripe-emulator/)
// Never imported in production: only src/dev/demo.ts (loaded by src/app.ts in demo mode) and tests.
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify'
import { savedState } from '../saved-state.js'
import api, { ApiRecord, type RecordedRequest, stripeErrorHandler } from './api.js'
import { Catalog } from './catalog.js'
import { Invoices } from './invoices.js'
import { Lifetime } from './lifetime.js'
import { parseCreateCoupon, parseCreatePaymentLink, parseCreatePrice, parseCreatePromotionCode } from './catalog-params.js'
import pages from './pages.js'
import type { StripeErrorBody } from './params.js'
import { type CheckoutSession, type PayDetails, Payments, type PaymentsSnapshot } from './state.js'
import { DEFAULT_RETRY_DELAYS_MS, type Delivery, type StripeEvent, Webhooks } from './webhooks.js'

export type { FormObject, FormValue, StripeErrorBody } from './params.js'
export type { PayDetails } from './state.js'
export type { Address, CheckoutSession, CustomerDetails, Invoice, InvoiceLine } from './types.js'
export type { BuyerInput } from './buyer.js'
export type { TaxBehavior, TaxId } from './tax.js'
export type { Coupon, PaymentLink, Price, PromotionCode } from './catalog.js'
export type { Delivery, StripeEvent } from './webhooks.js'
export type { RecordedRequest } from './api.js'

export interface StripeEmulatorOptions {
  host?: string
  port?: number
  webhookSecret: string
  webhookUrl?: string | (() => string | undefined)
  settleDelayMs?: number
  retryDelaysMs?: number[]
  log?: (msg: string) => void
  /**
   * Where a browser finds the hosted pages, when not on the emulator's own origin: demo mode
   * mounts `pages` in the app and passes `${PUBLIC_URL}/dev/stripe`. Checkout and Payment Link
   * URLs start with it.
   */
  pagesUrl?: string
  /** A JSON file keeping the sessions, charges, refunds and invoices across restarts (read at start, written on change). */
  stateFile?: string
  /**
   * The seller's country for Stripe Tax (default `IE`): a buyer with an EU VAT id in another EU
   * country is reverse charged.
   */
  taxOriginCountry?: string
  /** The seller's name on invoices (Stripe's `account_name`; default `PDF Market (test account)`). */
  accountName?: string
}

export interface StripeEmulator {
  // What demo mode uses, and what a person does on the hosted pages.
  url: string
  close(): Promise<void>
  /** The hosted pages and dashboard, to register in another Fastify app under a prefix. */
  pages: FastifyPluginAsync
  sessions: Map<string, CheckoutSession>
  /**
   * Pays a session as a buyer would on the checkout page (typing the email when none was given,
   * and the promotion code when one is given: it throws when the code does not apply). A session
   * with automatic tax or billing_address_collection=required needs `address` (at least its
   * country; it throws without one, unless the page was given one); `taxId` (with
   * `businessName`) as the buyer types it, refused (thrown) when malformed for the country.
   */
  pay(sessionId: string, method?: 'card' | 'bank_transfer', details?: PayDetails): Promise<void>
  /**
   * What a seller sets up in Stripe's Dashboard: a coupon (percentOff, or amountOff in currency)
   * and the customer-facing code for it.
   */
  createPromotionCode(input: { code: string, percentOff?: number, amountOff?: number, currency?: string }): { id: string, code: string, couponId: string }
  /** A price for a new product and a Payment Link selling one of it, as the Dashboard creates them. */
  createPaymentLink(input: { name: string, unitAmount: number, currency: string, allowPromotionCodes?: boolean }): Promise<{ id: string, url: string }>
  /**
   * Opens a Payment Link as a buyer's browser does (a new Checkout Session) and pays it on the
   * hosted page with this email (and code); webhooks are delivered as pay() delivers them.
   */
  payLink(linkId: string, details: PayDetails & { email: string, method?: 'card' | 'bank_transfer' }): Promise<CheckoutSession>
  /** Settles (or fails) a pending bank transfer, as the dashboard's buttons do. */
  settle(sessionId: string, outcome: 'succeeded' | 'failed'): Promise<void>
  expire(sessionId: string): Promise<void>
  refund(sessionId: string, amountCents?: number): Promise<void>

  // Test-only: what the app sent and received, and controls no client of Stripe has.
  requests: RecordedRequest[]
  /** Every event generated, whether or not a webhook URL was configured. */
  events: StripeEvent[]
  deliveries: Delivery[]
  /** Answers the next API request with this error (and `Stripe-Should-Retry: false`). */
  failNext(status: number, error: StripeErrorBody): void
  /** An event that was never emitted: to deliver by hand, forge or replay. */
  buildEvent(type: string, object: Record<string, unknown>, id?: string): StripeEvent
  sign(payload: string, timestampSec?: number, secret?: string): string
  /** One delivery attempt to the webhook URL, without retries: the status, 0 when no answer came. */
  deliver(event: StripeEvent): Promise<number>
  /** Changes a session behind the app's back (amount, currency, status) to test its checks. */
  patchSession(id: string, patch: Partial<CheckoutSession>): void
}

interface Parts {
  payments: Payments
  catalog: Catalog
  invoices: Invoices
  webhooks: Webhooks
  record: ApiRecord
}

function buildServer ({ payments, catalog, invoices, record }: Parts, log: (msg: string) => void): FastifyInstance {
  // No HEAD routes and no logger, as before; close() drops the SDK's keep-alive sockets at once.
  const app = Fastify({ logger: false, exposeHeadRoutes: false, forceCloseConnections: true })
  app.setErrorHandler(stripeErrorHandler(log))
  // Loaded when the caller awaits ready() or listen(), which report any error.
  app.register(api, { prefix: '/v1', payments, catalog, invoices, record, log })
  app.register(pages, { payments, catalog, invoices, log })
  return app
}

/** The JS API's setup calls, checked like the /v1 routes check them (same parsers). */
function createPromotionCode (catalog: Catalog, input: { code: string, percentOff?: number, amountOff?: number, currency?: string }): { id: string, code: string, couponId: string } {
  const coupon = catalog.createCoupon(parseCreateCoupon({
    ...(input.percentOff === undefined ? {} : { percent_off: String(input.percentOff) }),
    ...(input.amountOff === undefined ? {} : { amount_off: String(input.amountOff) }),
    ...(input.currency === undefined ? {} : { currency: input.currency }),
    duration: 'once'
  }))
  const code = catalog.createPromotionCode(parseCreatePromotionCode({ promotion: { type: 'coupon', coupon: coupon.id }, code: input.code }))
  return { id: code.id, code: code.code, couponId: coupon.id }
}

function createPaymentLink (catalog: Catalog, input: { name: string, unitAmount: number, currency: string, allowPromotionCodes?: boolean }): { id: string, url: string } {
  const price = catalog.createPrice(parseCreatePrice({ currency: input.currency, unit_amount: String(input.unitAmount), product_data: { name: input.name } }))
  const link = catalog.createPaymentLink(parseCreatePaymentLink({
    line_items: [{ price: price.id, quantity: '1' }],
    allow_promotion_codes: input.allowPromotionCodes === true ? 'true' : 'false'
  }))
  return { id: link.id, url: link.url }
}

function emulatorHandle (url: string, close: () => Promise<void>, { payments, catalog, invoices, webhooks, record }: Parts, log: (msg: string) => void): StripeEmulator {
  return {
    url,
    close,
    pages: async (app) => { await app.register(pages, { payments, catalog, invoices, log }) },
    sessions: payments.sessions,
    pay: async (sessionId, method = 'card', details = {}) => { await payments.complete(sessionId, method, details) },
    createPromotionCode: (input) => createPromotionCode(catalog, input),
    createPaymentLink: async (input) => createPaymentLink(catalog, input),
    payLink: async (linkId, { method = 'card', ...details }) => {
      const opened = payments.createForLink(linkId)
      if ('refused' in opened) throw new Error(`Payment Link ${linkId} is ${opened.refused === 'missing' ? 'unknown' : 'deactivated'}`)
      await payments.complete(opened.session.id, method, details)
      return opened.session
    },
    settle: async (sessionId, outcome) => { await payments.settle(sessionId, outcome) },
    expire: async (sessionId) => { await payments.expire(sessionId) },
    refund: async (sessionId, amountCents) => { await payments.refund(sessionId, amountCents) },

    requests: record.requests,
    events: webhooks.events,
    deliveries: webhooks.deliveries,
    failNext: (status, error) => { record.failures.push({ status, error }) },
    buildEvent: (type, object, id) => webhooks.buildEvent(type, object, id),
    sign: (payload, timestampSec, secret) => webhooks.sign(payload, timestampSec, secret),
    deliver: async (event) => await webhooks.deliver(event),
    patchSession: (id, patch) => {
      const session = payments.sessions.get(id)
      if (session === undefined) throw new Error(`No such checkout session: ${id}`)
      Object.assign(session, patch)
    }
  }
}

export async function startStripeEmulator (opts: StripeEmulatorOptions): Promise<StripeEmulator> {
  const host = opts.host ?? '127.0.0.1'
  const log = opts.log ?? ((): void => undefined)
  const lifetime = new Lifetime()
  let baseUrl = ''
  const webhooks = new Webhooks({ secret: opts.webhookSecret, url: opts.webhookUrl, retryDelaysMs: opts.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS, lifetime, log })
  const pagesUrl = (): string => opts.pagesUrl ?? baseUrl
  const catalog = new Catalog(pagesUrl)
  // Version 2: sessions with line items, tax and invoices; a version 1 file is not read.
  const saved = opts.stateFile === undefined ? null : savedState(opts.stateFile, 2, (): PaymentsSnapshot => payments.snapshot(), log)
  const taxOriginCountry = (opts.taxOriginCountry ?? 'IE').toUpperCase()
  const invoices = new Invoices(pagesUrl, { name: opts.accountName ?? 'PDF Market (test account)', country: taxOriginCountry })
  const payments: Payments = new Payments({ webhooks, catalog, invoices, taxOriginCountry, lifetime, settleDelayMs: opts.settleDelayMs ?? 4000, log, baseUrl: pagesUrl, changed: saved?.save })
  if (saved?.loaded !== undefined) payments.restore(saved.loaded)
  const parts: Parts = { payments, catalog, invoices, webhooks, record: new ApiRecord() }
  const app = buildServer(parts, log)
  await app.listen({ port: opts.port ?? 0, host })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`

  let closing: Promise<void> | null = null
  const close = async (): Promise<void> => {
    closing ??= (async () => {
      lifetime.end()
      await app.close()
    })()
    await closing
  }
  return emulatorHandle(baseUrl, close, parts, log)
}
