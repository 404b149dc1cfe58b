import { type BuyerInput, needsAddress, parseBuyer } from './buyer.js'
import type { Catalog } from './catalog.js'
import { nowSec, randomId } from './ids.js'
import type { Invoices, InvoicesSnapshot } from './invoices.js'
import type { Lifetime } from './lifetime.js'
import { lineStates, sessionObject } from './session.js'
import { isReverseCharge, lineTotals } from './tax.js'
import type { CheckoutSession, CustomerDetails, NewSession, Refund, SessionState } from './types.js'
import type { Webhooks } from './webhooks.js'

export type { CheckoutSession, NewSession, Refund, SessionState } from './types.js'

/** What pay() and the hosted page pass when the buyer pays. */
export interface PayDetails extends BuyerInput { email?: string, name?: string, promotionCode?: string }

export type PaymentMethod = 'card' | 'bank_transfer'

/** What a restarted emulator needs to go on: every session and what Stripe keeps beside it. */
export interface PaymentsSnapshot {
  sessions: CheckoutSession[]
  states: Array<[string, Omit<SessionState, 'settleTimer'>]>
  invoices?: InvoicesSnapshot
}

export interface PaymentsOptions {
  webhooks: Webhooks
  catalog: Catalog
  invoices: Invoices
  /** The seller's country: an EU business elsewhere in the EU is reverse charged. */
  taxOriginCountry: string
  lifetime: Lifetime
  settleDelayMs: number
  log: (msg: string) => void
  /** The emulator's own URL, known once it listens: a session's hosted page is under it. */
  baseUrl: () => string
  /** Called after every change (the demo writes its state file). */
  changed?: () => void
}

/**
 * Checkout Sessions and what happens to them: payment by card or bank transfer (which settles
 * later), expiry and refunds. Every change emits the event Stripe would send.
 */
export class Payments {
  readonly sessions = new Map<string, CheckoutSession>()
  readonly #states = new Map<string, SessionState>()

  constructor (private readonly options: PaymentsOptions) {}

  /** Whether the buyer typed so far is reverse charged (an EU business elsewhere in the EU). */
  reverseCharged (state: SessionState): boolean {
    return state.buyer !== null && isReverseCharge(state.buyer.address.country, state.buyer.taxId, this.options.taxOriginCountry)
  }

  snapshot (): PaymentsSnapshot {
    return {
      sessions: [...this.sessions.values()],
      states: [...this.#states].map(([id, { settleTimer: _timer, ...state }]) => [id, state]),
      invoices: this.options.invoices.snapshot()
    }
  }

  /**
   * Takes back a snapshot (before any session exists). A bank transfer that was pending stays
   * pending: the dashboard's Settle button settles it.
   */
  restore (snapshot: PaymentsSnapshot): void {
    for (const session of snapshot.sessions) this.sessions.set(session.id, session)
    for (const [id, state] of snapshot.states) this.#states.set(id, { ...state, settleTimer: null })
    this.options.invoices.restore(snapshot.invoices)
  }

  create (input: NewSession): CheckoutSession {
    const id = randomId('cs_test_', 58)
    const session = sessionObject(id, input, `${this.options.baseUrl()}/pay/${id}`)
    const lines = lineStates(input)
    const state: SessionState = { productName: lines.map((line) => line.description).join(', '), lines, buyer: null, promotionCode: null, chargeId: null, amountRefunded: 0, awaitingSettlement: false, settleTimer: null }
    this.sessions.set(id, session)
    this.#states.set(id, state)
    this.recompute(session, state)
    this.options.changed?.()
    return session
  }

  /**
   * The totals from the lines, the discount and (with automatic tax) where the buyer is: each
   * line's share of the discount, its tax and total, and the session's sums.
   */
  recompute (session: CheckoutSession, state: SessionState): void {
    const buyer = state.buyer
    const context = !session.automatic_tax.enabled || buyer === null ? null : { country: buyer.address.country, reverseCharge: this.reverseCharged(state) }
    const discount = session.total_details.amount_discount
    const totals = lineTotals(state.lines.map((line) => ({ amount: line.amountSubtotal, taxBehavior: line.taxBehavior, taxCode: line.taxCode })), discount, context)
    state.lines.forEach((line, index) => {
      const t = totals[index]!
      Object.assign(line, { amountDiscount: t.discount, amountTax: t.tax, amountTotal: t.total, taxRate: t.rate })
    })
    session.amount_subtotal = state.lines.reduce((sum, line) => sum + line.amountSubtotal, 0)
    session.total_details.amount_tax = totals.reduce((sum, t) => sum + t.tax, 0)
    session.amount_total = totals.reduce((sum, t) => sum + t.total, 0)
    if (session.automatic_tax.enabled) session.automatic_tax.status = context === null ? 'requires_location_inputs' : 'complete'
  }

  /** The buyer's country, address and tax id, typed on the page: recomputes the tax, or says what is wrong. */
  setBuyer (sessionId: string, input: BuyerInput): ReturnType<typeof parseBuyer> {
    const { session, state } = this.get(sessionId)
    const parsed = parseBuyer(session, input)
    if (!parsed.ok) return parsed
    state.buyer = parsed.buyer
    this.recompute(session, state)
    this.options.changed?.()
    return parsed
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
      lines: [{ name: item.productName, unitAmount: item.price.unit_amount, quantity: item.quantity, currency: item.price.currency, taxBehavior: null, taxCode: null }],
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
    state.promotionCode = discount.promotionCode.code
    this.recompute(session, state)
    this.options.changed?.()
    return { ok: true }
  }

  removePromotionCode (sessionId: string): void {
    const { session, state } = this.get(sessionId)
    if (session.status !== 'open') return
    session.discounts = []
    session.total_details.amount_discount = 0
    state.promotionCode = null
    this.recompute(session, state)
    this.options.changed?.()
  }

  /**
   * The buyer pays: a card is paid at once; a bank transfer completes the session unpaid and
   * settles after settleDelayMs (or when settle() is called). A total of 0 (a full discount)
   * collects no payment method: the session completes `no_payment_required`, with no payment
   * intent, as Stripe's no-cost orders do.
   */
  async complete (sessionId: string, method: PaymentMethod, details: PayDetails = {}): Promise<void> {
    const { session, state } = this.get(sessionId)
    if (session.status !== 'open') throw new Error(`Session ${sessionId} is ${session.status}, not open`)
    if (details.promotionCode !== undefined) {
      const applied = this.applyPromotionCode(sessionId, details.promotionCode)
      if (!applied.ok) throw new Error(`Promotion code "${details.promotionCode}" not applied to ${sessionId}: ${applied.message}`)
    }
    if (details.address !== undefined || details.taxId !== undefined || details.businessName !== undefined) {
      const address = details.address ?? (state.buyer === null ? undefined : { country: state.buyer.address.country })
      const given = this.setBuyer(sessionId, { address, taxId: details.taxId, businessName: details.businessName })
      if (!given.ok) throw new Error(`Buyer details refused for ${sessionId} (${given.field}): ${given.message}`)
    }
    if (needsAddress(session) && state.buyer === null) {
      throw new Error(`Session ${sessionId} collects the billing address (automatic tax or billing_address_collection=required): pass details.address, e.g. { country: 'DE' }`)
    }
    // Only tax depends on what the buyer typed; a session without it keeps its totals (tests patch them).
    if (session.automatic_tax.enabled) this.recompute(session, state)
    session.status = 'complete'
    session.url = null
    session.customer_details = this.customerDetails(session, state, details)
    const promotionCodeId = session.discounts[0]?.promotion_code
    if (promotionCodeId !== undefined && promotionCodeId !== null) this.options.catalog.redeemed(promotionCodeId)
    if (session.amount_total === 0) {
      session.payment_status = 'no_payment_required'
      this.invoice(session, state)
      await this.sessionEvent('checkout.session.completed', session)
      return
    }
    session.payment_intent = randomId('pi_')
    if (method === 'card') {
      this.charge(session, state)
      this.invoice(session, state)
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
      this.invoice(session, state)
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

  /** customer_details as Stripe fills it in at completion, from what the buyer typed. */
  private customerDetails (session: CheckoutSession, state: SessionState, details: PayDetails): CustomerDetails {
    const buyer = state.buyer
    const reverse = session.automatic_tax.enabled && this.reverseCharged(state)
    return {
      email: details.email || session.customer_email,
      name: details.name || null,
      business_name: buyer?.businessName ?? null,
      address: { city: buyer?.address.city ?? null, country: buyer?.address.country ?? null, line1: buyer?.address.line1 ?? null, line2: null, postal_code: buyer?.address.postal_code ?? null, state: null },
      phone: null,
      tax_exempt: reverse ? 'reverse' : 'none',
      tax_ids: buyer?.taxId === null || buyer === null ? [] : [{ ...buyer.taxId }]
    }
  }

  /** The paid invoice, when the session asked for one: created before the event that announces the payment. */
  private invoice (session: CheckoutSession, state: SessionState): void {
    if (!session.invoice_creation.enabled || session.invoice !== null) return
    session.invoice = this.options.invoices.create(session, state, session.invoice_creation.invoice_data.metadata).id
  }

  private async sessionEvent (type: string, session: CheckoutSession): Promise<void> {
    this.options.changed?.()
    await this.options.webhooks.emit(type, { ...session })
  }
}
