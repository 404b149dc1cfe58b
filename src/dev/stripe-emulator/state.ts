import type { Catalog } from './catalog.js'
import { nowSec, randomId } from './ids.js'
import type { Lifetime } from './lifetime.js'
import type { Webhooks } from './webhooks.js'

export interface CheckoutSession {
  id: string
  object: 'checkout.session'
  mode: 'payment'
  status: 'open' | 'complete' | 'expired'
  /** `no_payment_required` when a discount brought the total to 0: nothing is charged. */
  payment_status: 'unpaid' | 'paid' | 'no_payment_required'
  allow_promotion_codes: boolean | null
  /** The line item's total, before discounts. */
  amount_subtotal: number
  /** What the buyer pays: amount_subtotal - total_details.amount_discount. */
  amount_total: number
  total_details: { amount_discount: number, amount_shipping: number, amount_tax: number }
  /** The applied promotion code, if any (Stripe's list holds at most one here). */
  discounts: Array<{ coupon: string, promotion_code: string | null }>
  currency: string
  client_reference_id: string | null
  metadata: Record<string, string>
  customer_email: string | null
  customer_details: { email: string | null, name: string | null } | null
  /** Null for a Payment Link's session: it ends on the link's confirmation page or redirect. */
  success_url: string | null
  cancel_url: string | null
  url: string | null
  payment_intent: string | null
  payment_link: string | null
  created: number
  expires_at: number
  livemode: false
}

/** What Stripe keeps about a session beyond the Checkout Session object: its charge and refunds. */
export interface SessionState {
  productName: string
  /** The code as the buyer typed it, shown on the page next to the discount. */
  promotionCode: string | null
  chargeId: string | null
  amountRefunded: number
  awaitingSettlement: boolean
  settleTimer: NodeJS.Timeout | null
}

/** A Refund object as Stripe answers POST /v1/refunds. */
export interface Refund {
  id: string
  object: 'refund'
  amount: number
  charge: string
  currency: string
  payment_intent: string
  status: 'succeeded'
  reason: string | null
  metadata: Record<string, string>
  created: number
}

/** A validated checkout.sessions.create request (see params.ts). */
export interface NewSession {
  productName: string
  amount: number
  currency: string
  clientReferenceId: string | null
  customerEmail: string | null
  metadata: Record<string, string>
  successUrl: string | null
  cancelUrl: string | null
  allowPromotionCodes: boolean | null
  paymentLink: string | null
}

export type PaymentMethod = 'card' | 'bank_transfer'

/** What a restarted emulator needs to go on: every session and what Stripe keeps beside it. */
export interface PaymentsSnapshot {
  sessions: CheckoutSession[]
  states: Array<[string, Omit<SessionState, 'settleTimer'>]>
}

export interface PaymentsOptions {
  webhooks: Webhooks
  catalog: Catalog
  lifetime: Lifetime
  settleDelayMs: number
  log: (msg: string) => void
  /** The emulator's own URL, known once it listens: a session's hosted page is under it. */
  baseUrl: () => string
  /** Called after every change (the demo writes its state file). */
  changed?: () => void
}

const SESSION_TTL_SEC = 24 * 60 * 60

/**
 * Checkout Sessions and what happens to them: payment by card or bank transfer (which settles
 * later), expiry and refunds. Every change emits the event Stripe would send.
 */
export class Payments {
  readonly sessions = new Map<string, CheckoutSession>()
  readonly #states = new Map<string, SessionState>()

  constructor (private readonly options: PaymentsOptions) {}

  snapshot (): PaymentsSnapshot {
    return {
      sessions: [...this.sessions.values()],
      states: [...this.#states].map(([id, { settleTimer: _timer, ...state }]) => [id, state])
    }
  }

  /**
   * Takes back a snapshot (before any session exists). A bank transfer that was pending stays
   * pending: the dashboard's Settle button settles it.
   */
  restore (snapshot: PaymentsSnapshot): void {
    for (const session of snapshot.sessions) this.sessions.set(session.id, session)
    for (const [id, state] of snapshot.states) this.#states.set(id, { ...state, settleTimer: null })
  }

  create (input: NewSession): CheckoutSession {
    const id = randomId('cs_test_', 58)
    const created = nowSec()
    const session: CheckoutSession = {
      id,
      object: 'checkout.session',
      mode: 'payment',
      status: 'open',
      payment_status: 'unpaid',
      allow_promotion_codes: input.allowPromotionCodes,
      amount_subtotal: input.amount,
      amount_total: input.amount,
      total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
      discounts: [],
      currency: input.currency,
      client_reference_id: input.clientReferenceId,
      metadata: input.metadata,
      customer_email: input.customerEmail,
      customer_details: null,
      success_url: input.successUrl,
      cancel_url: input.cancelUrl,
      url: `${this.options.baseUrl()}/pay/${id}`,
      payment_intent: null,
      payment_link: input.paymentLink,
      created,
      expires_at: created + SESSION_TTL_SEC,
      livemode: false
    }
    this.sessions.set(id, session)
    this.#states.set(id, { productName: input.productName, promotionCode: null, chargeId: null, amountRefunded: 0, awaitingSettlement: false, settleTimer: null })
    this.options.changed?.()
    return session
  }

  /**
   * What opening a Payment Link's URL does: a new session for the link's line item, with
   * `payment_link` set and no client_reference_id, success_url or metadata; or why there is none.
   */
  createForLink (linkId: string): { session: CheckoutSession } | { refused: 'missing' | 'inactive' } {
    const link = this.options.catalog.paymentLinks.get(linkId)
    const item = this.options.catalog.linkItem(linkId)
    if (link === undefined || item === undefined) return { refused: 'missing' }
    if (!link.active) return { refused: 'inactive' }
    const session = this.create({
      productName: item.productName,
      amount: item.price.unit_amount * item.quantity,
      currency: item.price.currency,
      clientReferenceId: null,
      customerEmail: null,
      metadata: {},
      successUrl: link.after_completion.type === 'redirect' ? link.after_completion.redirect.url : null,
      cancelUrl: null,
      allowPromotionCodes: link.allow_promotion_codes,
      paymentLink: link.id
    })
    return { session }
  }

  /** The session and its state, or undefined when there is no such session. */
  find (id: string): { session: CheckoutSession, state: SessionState } | undefined {
    const session = this.sessions.get(id)
    const state = this.#states.get(id)
    return session === undefined || state === undefined ? undefined : { session, state }
  }

  /** Newest first, for the payments dashboard. */
  list (): Array<{ session: CheckoutSession, state: SessionState }> {
    return [...this.sessions.keys()].reverse().flatMap((id) => this.find(id) ?? [])
  }

  /**
   * A promotion code typed on the checkout page: recomputes the totals, or says why it does not
   * apply. A second code replaces the first, as on Stripe's page.
   */
  applyPromotionCode (sessionId: string, code: string): { ok: true } | { ok: false, message: string } {
    const { session, state } = this.get(sessionId)
    if (session.status !== 'open') return { ok: false, message: `This checkout session is ${session.status}.` }
    if (session.allow_promotion_codes !== true) return { ok: false, message: 'This checkout session does not accept promotion codes.' }
    const discount = this.options.catalog.discountFor(code, session.amount_subtotal, session.currency)
    if (!discount.ok) return discount
    session.discounts = [{ coupon: discount.coupon.id, promotion_code: discount.promotionCode.id }]
    session.total_details.amount_discount = discount.amount
    session.amount_total = session.amount_subtotal - discount.amount
    state.promotionCode = discount.promotionCode.code
    this.options.changed?.()
    return { ok: true }
  }

  removePromotionCode (sessionId: string): void {
    const { session, state } = this.get(sessionId)
    if (session.status !== 'open') return
    session.discounts = []
    session.total_details.amount_discount = 0
    session.amount_total = session.amount_subtotal
    state.promotionCode = null
    this.options.changed?.()
  }

  /**
   * The buyer pays: a card is paid at once; a bank transfer completes the session unpaid and
   * settles after settleDelayMs (or when settle() is called). A total of 0 (a full discount)
   * collects no payment method: the session completes `no_payment_required`, with no payment
   * intent, as Stripe's no-cost orders do.
   */
  async complete (sessionId: string, method: PaymentMethod, details: { email?: string, name?: string, promotionCode?: string } = {}): Promise<void> {
    const { session, state } = this.get(sessionId)
    if (session.status !== 'open') throw new Error(`Session ${sessionId} is ${session.status}, not open`)
    if (details.promotionCode !== undefined) {
      const applied = this.applyPromotionCode(sessionId, details.promotionCode)
      if (!applied.ok) throw new Error(`Promotion code "${details.promotionCode}" not applied to ${sessionId}: ${applied.message}`)
    }
    session.status = 'complete'
    session.url = null
    session.customer_details = { email: details.email || session.customer_email, name: details.name || null }
    const promotionCodeId = session.discounts[0]?.promotion_code
    if (promotionCodeId !== undefined && promotionCodeId !== null) this.options.catalog.redeemed(promotionCodeId)
    if (session.amount_total === 0) {
      session.payment_status = 'no_payment_required'
      await this.sessionEvent('checkout.session.completed', session)
      return
    }
    session.payment_intent = randomId('pi_')
    if (method === 'card') {
      this.charge(session, state)
      await this.sessionEvent('checkout.session.completed', session)
      return
    }
    session.payment_status = 'unpaid'
    state.awaitingSettlement = true
    // The settle timer starts only after the completed event's first attempt so
    // that, even with settleDelayMs = 0, the app sees the events in Stripe's order.
    await this.sessionEvent('checkout.session.completed', session)
    const { lifetime, log, settleDelayMs } = this.options
    if (state.awaitingSettlement && !lifetime.closed) {
      state.settleTimer = lifetime.schedule(settleDelayMs, () => {
        state.settleTimer = null
        this.settle(sessionId, 'succeeded').catch((err: unknown) => { log(`stripe-emulator: settle failed: ${String(err)}`) })
      })
    }
  }

  /** A pending bank transfer arrives (or fails). */
  async settle (sessionId: string, outcome: 'succeeded' | 'failed'): Promise<void> {
    const { session, state } = this.get(sessionId)
    if (!state.awaitingSettlement) throw new Error(`Session ${sessionId} has no pending bank transfer`)
    state.awaitingSettlement = false
    if (state.settleTimer !== null) {
      this.options.lifetime.cancel(state.settleTimer)
      state.settleTimer = null
    }
    if (outcome === 'succeeded') {
      this.charge(session, state)
      await this.sessionEvent('checkout.session.async_payment_succeeded', session)
    } else {
      await this.sessionEvent('checkout.session.async_payment_failed', session)
    }
  }

  async expire (sessionId: string): Promise<void> {
    const { session } = this.get(sessionId)
    if (session.status !== 'open') {
      throw new Error(`Only Checkout Sessions with a status of open can be expired (${sessionId} is ${session.status})`)
    }
    session.status = 'expired'
    session.url = null
    await this.sessionEvent('checkout.session.expired', session)
  }

  /** The session whose payment intent this is (refunds name the payment, not the session). */
  byPaymentIntent (paymentIntent: string): { session: CheckoutSession, state: SessionState } | undefined {
    for (const [id, session] of this.sessions) {
      if (session.payment_intent === paymentIntent) return this.find(id)
    }
    return undefined
  }

  /** Refunds part of the charge, or all that is left of it; a full refund says `refunded: true`. */
  async refund (sessionId: string, amountCents?: number): Promise<Refund> {
    const { refund, delivered } = this.refundNow(sessionId, amountCents)
    await delivered
    return refund
  }

  /**
   * The refund itself, at once, and its charge.refunded event: generated now, delivered without
   * waiting, so the API can answer before the app hears the event (as Stripe does).
   */
  refundNow (sessionId: string, amountCents?: number): { refund: Refund, delivered: Promise<void> } {
    const { session, state } = this.get(sessionId)
    if (session.payment_status !== 'paid' || state.chargeId === null || session.payment_intent === null) throw new Error(`Session ${sessionId} is not paid`)
    const remaining = session.amount_total - state.amountRefunded
    const amount = amountCents ?? remaining
    if (!Number.isInteger(amount) || amount <= 0 || amount > remaining) {
      throw new Error(`Refund amount must be between 1 and ${remaining} (got ${amount})`)
    }
    state.amountRefunded += amount
    const refund: Refund = {
      id: randomId('re_'),
      object: 'refund',
      amount,
      charge: state.chargeId,
      currency: session.currency,
      payment_intent: session.payment_intent,
      status: 'succeeded',
      reason: null,
      metadata: {},
      created: nowSec()
    }
    this.options.changed?.()
    const delivered = this.options.webhooks.emit('charge.refunded', {
      id: state.chargeId,
      object: 'charge',
      amount: session.amount_total,
      amount_captured: session.amount_total,
      amount_refunded: state.amountRefunded,
      currency: session.currency,
      payment_intent: session.payment_intent,
      refunded: state.amountRefunded === session.amount_total,
      status: 'succeeded',
      paid: true,
      created: nowSec(),
      livemode: false
    })
    return { refund, delivered }
  }

  private get (id: string): { session: CheckoutSession, state: SessionState } {
    const found = this.find(id)
    if (found === undefined) throw new Error(`No such checkout session: ${id}`)
    return found
  }

  private charge (session: CheckoutSession, state: SessionState): void {
    session.payment_status = 'paid'
    state.chargeId ??= randomId('ch_')
  }

  private async sessionEvent (type: string, session: CheckoutSession): Promise<void> {
    this.options.changed?.()
    await this.options.webhooks.emit(type, { ...session })
  }
}
