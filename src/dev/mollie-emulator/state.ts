// Payments and their refunds, kept as the very resources the API answers (so a test can change a
// payment behind the app's back and the next GET shows it), and what changes them: a buyer's
// choice on the checkout page, a refund. Every change is announced to the payment's webhookUrl.
import { parseAmount, toDecimal } from '../../lib/money.js'
import { randomId } from '../stripe-emulator/ids.js'
import { MollieError, unprocessable } from './errors.js'
import { type Amount, type CreatePaymentParams, type CreateRefundParams, parseAmountParam } from './params.js'
import type { Webhooks } from './webhooks.js'

export type PaymentStatus = 'open' | 'paid' | 'failed' | 'canceled' | 'expired'
export type Outcome = Exclude<PaymentStatus, 'open'>
export const OUTCOMES: readonly Outcome[] = ['paid', 'failed', 'canceled', 'expired']

interface Link { href: string, type: 'application/hal+json' | 'text/html' }

/** A payment exactly as GET /v2/payments/:id answers it. */
export interface MolliePayment {
  resource: 'payment'
  id: string
  mode: 'test' | 'live'
  createdAt: string
  amount: Amount
  description: string
  method: string | null
  metadata: unknown
  status: PaymentStatus
  isCancelable: boolean
  /** Only while open. */
  expiresAt?: string
  paidAt?: string
  failedAt?: string
  canceledAt?: string
  expiredAt?: string
  /** From the moment the payment is paid. */
  amountRefunded?: Amount
  amountRemaining?: Amount
  settlementAmount?: Amount
  locale?: string
  profileId: string
  sequenceType: 'oneoff'
  redirectUrl: string
  webhookUrl?: string
  details?: Record<string, string>
  _links: {
    self: Link
    /** Only while open: where the buyer pays. */
    checkout?: Link
    dashboard: Link
    refunds?: Link
    documentation: Link
  }
}

/** A refund as POST /v2/payments/:id/refunds answers it; the emulator settles refunds at once. */
export interface MollieRefund {
  resource: 'refund'
  id: string
  mode: 'test' | 'live'
  amount: Amount
  description: string
  metadata: unknown
  status: 'refunded'
  paymentId: string
  createdAt: string
  settlementAmount?: Amount
  _links: { self: Link, payment: Link, documentation: Link }
}

export interface PaymentsOptions {
  webhooks: Webhooks
  /** The https API origin and the http pages origin, known once both listen. */
  apiUrl: () => string
  pagesUrl: () => string
  log: (msg: string) => void
  /** Called after every change (the demo writes its state file). */
  changed?: () => void
}

/** What a restarted emulator needs to go on: every payment and its refunds. */
export interface PaymentsSnapshot {
  payments: MolliePayment[]
  refunds: Array<[string, MollieRefund[]]>
}

// Mollie writes times to the second with an explicit offset: 2024-03-20T09:13:37+00:00.
const timestamp = (date = new Date()): string => date.toISOString().replace(/\.\d{3}Z$/, '+00:00')
// An open payment expires after 15 minutes at Mollie; the emulator shows the time but lets the
// demo's buyer take longer (expiring is one of the checkout page's choices).
const OPEN_FOR_MS = 15 * 60 * 1000

const hal = (href: string): Link => ({ href, type: 'application/hal+json' })
const html = (href: string): Link => ({ href, type: 'text/html' })

/** Minor units of an amount on a stored resource (0 if a test made it unreadable). */
const minorOf = (amount: Amount): number => parseAmount(amount.value, amount.currency) ?? 0
const amountOf = (minor: number, currency: string): Amount => ({ currency, value: toDecimal(minor, currency) })

// What Mollie's test mode reports for a paid iDEAL or card payment.
function detailsFor (method: string): Record<string, string> | undefined {
  if (method === 'ideal') return { consumerName: 'T. TEST', consumerAccount: 'NL72RABO0110438885', consumerBic: 'RABONL2U' }
  if (method === 'creditcard') return { cardHolder: 'T. TEST', cardNumber: '6787', cardLabel: 'Mastercard', cardCountryCode: 'NL', cardSecurity: 'normal', feeRegion: 'intra-eu' }
  return undefined
}

export class Payments {
  readonly payments = new Map<string, MolliePayment>()
  readonly refunds = new Map<string, MollieRefund[]>()
  readonly profileId = randomId('pfl_', 10)

  constructor (private readonly options: PaymentsOptions) {}

  snapshot (): PaymentsSnapshot {
    return { payments: [...this.payments.values()], refunds: [...this.refunds] }
  }

  /** Takes back a snapshot (before any payment exists). */
  restore (snapshot: PaymentsSnapshot): void {
    for (const payment of snapshot.payments) this.payments.set(payment.id, payment)
    for (const [id, refunds] of snapshot.refunds) this.refunds.set(id, refunds)
  }

  create (params: CreatePaymentParams, mode: 'test' | 'live'): MolliePayment {
    const id = randomId('tr_', 10)
    const now = new Date()
    const payment: MolliePayment = {
      resource: 'payment',
      id,
      mode,
      createdAt: timestamp(now),
      amount: params.amount,
      description: params.description,
      method: params.method,
      metadata: params.metadata,
      status: 'open',
      isCancelable: false,
      expiresAt: timestamp(new Date(now.getTime() + OPEN_FOR_MS)),
      ...(params.locale === null ? {} : { locale: params.locale }),
      profileId: this.profileId,
      sequenceType: 'oneoff',
      redirectUrl: params.redirectUrl,
      ...(params.webhookUrl === null ? {} : { webhookUrl: params.webhookUrl }),
      _links: this.links(id, 'open', false)
    }
    this.payments.set(id, payment)
    this.options.changed?.()
    return payment
  }

  /** Newest first, for the dashboard. */
  list (): MolliePayment[] {
    return [...this.payments.values()].reverse()
  }

  refundsOf (paymentId: string): MollieRefund[] {
    return this.refunds.get(paymentId) ?? []
  }

  /** What a buyer's choice on the checkout page does: the status, then the webhook's first attempt. */
  async complete (paymentId: string, outcome: Outcome): Promise<void> {
    const payment = this.payments.get(paymentId)
    if (payment === undefined) throw new Error(`No payment exists with token ${paymentId}.`)
    if (payment.status !== 'open') throw new Error(`Payment ${paymentId} is ${payment.status}, not open.`)
    const now = timestamp()
    const method = payment.method ?? (payment.amount.currency === 'EUR' ? 'ideal' : 'creditcard')
    const { expiresAt: _expires, _links: _old, ...rest } = payment
    const changes: Partial<MolliePayment> = { status: outcome }
    if (outcome === 'paid') {
      Object.assign(changes, {
        method,
        paidAt: now,
        amountRefunded: amountOf(0, payment.amount.currency),
        amountRemaining: { ...payment.amount },
        ...(payment.amount.currency === 'EUR' ? { settlementAmount: { ...payment.amount } } : {}),
        details: detailsFor(method)
      })
    } else if (outcome === 'failed') {
      Object.assign(changes, { method, failedAt: now })
    } else if (outcome === 'canceled') {
      changes.canceledAt = now
    } else {
      changes.expiredAt = now
    }
    this.replace(payment, { ...rest, ...changes, _links: this.links(payment.id, outcome, false) })
    await this.notify(payment)
  }

  /**
   * A refund, refused like Mollie refuses it (404 unknown payment, 422 not paid or more than
   * remains); settled at once. `delivered` is the webhook's first attempt.
   */
  refund (paymentId: string, params: CreateRefundParams): { refund: MollieRefund, delivered: Promise<void> } {
    const payment = this.payments.get(paymentId)
    if (payment === undefined) throw new MollieError(404, `No payment exists with token ${paymentId}.`)
    if (payment.status !== 'paid') throw unprocessable(`The payment has status ${payment.status} and cannot be refunded`)
    if (params.amount.currency !== payment.amount.currency) {
      throw unprocessable(`The refund currency must match the payment currency (${payment.amount.currency})`, 'amount.currency')
    }
    const refunded = payment.amountRefunded === undefined ? 0 : minorOf(payment.amountRefunded)
    const remaining = minorOf(payment.amount) - refunded
    if (params.minor > remaining) throw unprocessable('The specified amount cannot be refunded', 'amount.value')

    const id = randomId('re_', 10)
    const { apiUrl } = this.options
    const refund: MollieRefund = {
      resource: 'refund',
      id,
      mode: payment.mode,
      amount: params.amount,
      description: params.description,
      metadata: params.metadata,
      status: 'refunded',
      paymentId,
      createdAt: timestamp(),
      ...(params.amount.currency === 'EUR' ? { settlementAmount: { currency: 'EUR', value: `-${params.amount.value}` } } : {}),
      _links: {
        self: hal(`${apiUrl()}/v2/payments/${paymentId}/refunds/${id}`),
        payment: hal(`${apiUrl()}/v2/payments/${paymentId}`),
        documentation: html('https://docs.mollie.com/reference/create-refund')
      }
    }
    this.refunds.set(paymentId, [...this.refundsOf(paymentId), refund])
    const { currency } = payment.amount
    this.replace(payment, {
      ...payment,
      amountRefunded: amountOf(refunded + params.minor, currency),
      amountRemaining: amountOf(remaining - params.minor, currency),
      _links: this.links(paymentId, payment.status, true)
    })
    return { refund, delivered: this.notify(payment) }
  }

  /**
   * The dashboard's and the handle's refund: a typed value ("4.00") or, without one, what remains.
   * Refused with the same MollieErrors as the API.
   */
  refundValue (paymentId: string, value?: string): { refund: MollieRefund, delivered: Promise<void> } {
    const payment = this.payments.get(paymentId)
    if (payment === undefined) throw new MollieError(404, `No payment exists with token ${paymentId}.`)
    const rest = payment.amountRemaining
    if (value === undefined && rest !== undefined && minorOf(rest) === 0) throw unprocessable('The specified amount cannot be refunded', 'amount.value')
    const amount = { currency: payment.amount.currency, value: value ?? rest?.value ?? payment.amount.value }
    return this.refund(paymentId, { ...parseAmountParam(amount, 'The amount is required for refunds'), description: '', metadata: null })
  }

  private links (id: string, status: PaymentStatus, refunded: boolean): MolliePayment['_links'] {
    const { apiUrl, pagesUrl } = this.options
    return {
      self: hal(`${apiUrl()}/v2/payments/${id}`),
      ...(status === 'open' ? { checkout: html(`${pagesUrl()}/checkout/${id}`) } : {}),
      dashboard: html(`${pagesUrl()}/dashboard/payments/${id}`),
      ...(refunded ? { refunds: hal(`${apiUrl()}/v2/payments/${id}/refunds`) } : {}),
      documentation: html('https://docs.mollie.com/reference/get-payment')
    }
  }

  /** Rewrites the stored object in place (callers may hold it), keeping Mollie's field order. */
  private replace (payment: MolliePayment, next: MolliePayment): void {
    const order: Array<keyof MolliePayment> = [
      'resource', 'id', 'mode', 'createdAt', 'amount', 'description', 'method', 'metadata', 'status', 'isCancelable',
      'expiresAt', 'paidAt', 'failedAt', 'canceledAt', 'expiredAt', 'amountRefunded', 'amountRemaining', 'settlementAmount',
      'locale', 'profileId', 'sequenceType', 'redirectUrl', 'webhookUrl', 'details', '_links'
    ]
    const target = payment as unknown as Record<string, unknown>
    for (const key of Object.keys(target)) Reflect.deleteProperty(target, key)
    for (const key of order) if (next[key] !== undefined) target[key] = next[key]
    this.options.changed?.()
  }

  private async notify (payment: MolliePayment): Promise<void> {
    if (payment.webhookUrl === undefined) {
      this.options.log(`mollie-emulator: ${payment.id} is ${payment.status}; no webhookUrl to call`)
      return
    }
    await this.options.webhooks.notify(payment.webhookUrl, payment.id)
  }
}
