import { randomInt, randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { generate, type GenerateResult } from 'selfsigned'

/**
 * Mollie's v2 API as @mollie/api-client sees it (https only): create, get and refund a payment,
 * error bodies, Idempotency-Key. Written apart from the demo's emulator so the tests do not check
 * the emulator against itself. No hosted page, no webhook: a test calls setStatus, then the app's
 * webhook route.
 */

export interface Amount { currency: string, value: string }
export type PaymentStatus = 'open' | 'pending' | 'authorized' | 'paid' | 'failed' | 'canceled' | 'expired'
interface Link { href: string, type: string }

type Timestamps = Partial<Record<'expiresAt' | 'authorizedAt' | 'paidAt' | 'failedAt' | 'canceledAt' | 'expiredAt', string>>

export interface FakePayment extends Timestamps {
  resource: 'payment'
  id: string
  mode: 'test' | 'live'
  createdAt: string
  amount: Amount
  description: string
  metadata: unknown
  status: PaymentStatus
  redirectUrl: string | null
  webhookUrl: string | null
  /** Like Mollie's, these two appear once the payment is paid. */
  amountRefunded?: Amount
  amountRemaining?: Amount
  _links: Record<string, Link>
}

export interface FakeMollie {
  url: string
  apiEndpoint: string
  apiKey: string
  payments: Map<string, FakePayment>
  /** Every request that reached the fake, retries by the client included. */
  requests: Array<{ method: string, path: string, body: unknown, idempotencyKey?: string }>
  /** Sets the status as the hosted page would (paid: paidAt, amountRemaining; failed/canceled/expired: their *At). No webhook. */
  setStatus(id: string, status: PaymentStatus): FakePayment
  /** A refund made elsewhere (Mollie's dashboard): amountRefunded grows by value (default: all that remains). */
  refundBehindBack(id: string, value?: string): FakePayment
  /** Changes a payment behind the app's back (amount, currency, metadata...) to test its checks. */
  patch(id: string, patch: Partial<FakePayment>): void
  /** A payment the app never asked for (another store's): EUR 10.00, open unless `fields.status` says otherwise. */
  foreign(fields?: Partial<FakePayment>): FakePayment
  /**
   * The next request is answered with this status and a Mollie error body. The client retries a 5xx
   * twice (same idempotency key, `Retry-After: 0` keeps it quick): by default all three attempts fail.
   */
  failNext(status: number, attempts?: number): void
  close(): Promise<void>
}

interface Answer { status: number, body: unknown }

const DOCS = 'https://docs.mollie.com'
// Currencies Mollie accepts and their decimal places (docs.mollie.com, "Multicurrency").
const DECIMALS: Record<string, number> = { ISK: 0, JPY: 0 }
for (const code of 'AED AUD BGN BRL CAD CHF CZK DKK EUR GBP HKD HUF ILS MXN MYR NOK NZD PHP PLN RON SEK SGD THB TWD USD ZAR'.split(' ')) DECIMALS[code] = 2
const TIMESTAMPS: Partial<Record<PaymentStatus, keyof Timestamps>> =
  { authorized: 'authorizedAt', paid: 'paidAt', failed: 'failedAt', canceled: 'canceledAt', expired: 'expiredAt' }

function token (prefix: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
  return prefix + Array.from({ length: 10 }, () => alphabet[randomInt(alphabet.length)]).join('')
}

/** Mollie's timestamps: ISO 8601 with an offset and no milliseconds. */
function now (offsetMs = 0): string {
  return new Date(Date.now() + offsetMs).toISOString().replace(/\.\d{3}Z$/, '+00:00')
}

function problem (status: number, detail: string, field?: string): Answer {
  const title = status === 401 ? 'Unauthorized Request' : STATUS_CODES[status] ?? 'Error'
  const href = status === 401 ? `${DOCS}/overview/authentication` : `${DOCS}/overview/handling-errors`
  return { status, body: { status, title, detail, ...(field === undefined ? {} : { field }), _links: { documentation: { href, type: 'text/html' } } } }
}

/** An `amount` in minor units, or a 422 naming the field, as Mollie checks `value` against the currency. */
function parseAmount (amount: unknown, currency?: string): number | Answer {
  if (typeof amount !== 'object' || amount === null) return problem(422, 'The amount is required', 'amount')
  const { currency: code, value } = amount as Record<string, unknown>
  const decimals = typeof code === 'string' ? DECIMALS[code] : undefined
  if (decimals === undefined) return problem(422, 'The currency is not supported', 'amount.currency')
  if (currency !== undefined && code !== currency) return problem(422, `The amount must be in ${currency}`, 'amount.currency')
  // Nine integer digits at most: beyond any payment method's maximum, and exact as a JS number.
  const pattern = decimals === 0 ? /^\d{1,9}$/ : new RegExp(`^\\d{1,9}\\.\\d{${decimals}}$`)
  if (typeof value !== 'string' || !pattern.test(value)) return problem(422, `The amount contains an invalid value for ${String(code)}`, 'amount.value')
  const units = unitsOf({ currency: code as string, value })
  return units > 0 ? units : problem(422, 'The amount is lower than the minimum', 'amount.value')
}

function money (units: number, currency: string): Amount {
  const decimals = DECIMALS[currency] ?? 2
  return { currency, value: (units / 10 ** decimals).toFixed(decimals) }
}

/** Minor units of an amount whose value has its currency's decimals. */
function unitsOf (amount: Amount | undefined): number {
  return amount === undefined ? 0 : Number(amount.value.replace('.', ''))
}

let certificate: Promise<GenerateResult> | undefined

export async function startFakeMollie (): Promise<FakeMollie> {
  // One certificate per test process: making it is the slow part of starting.
  const altNames = [{ type: 7 as const, ip: '127.0.0.1' }, { type: 2 as const, value: 'localhost' }]
  certificate ??= generate([{ name: 'commonName', value: 'localhost' }], { keyType: 'ec', algorithm: 'sha256', extensions: [{ name: 'subjectAltName', altNames }] })
  const pems = await certificate
  const server = Fastify({ https: { key: pems.private, cert: pems.cert } })
  const apiKey = `test_${token('')}${token('')}`
  const payments = new Map<string, FakePayment>()
  const requests: FakeMollie['requests'] = []
  const answered = new Map<string, { request: string, answer: Answer }>()
  let failure = { status: 0, attempts: 0 }
  let url = ''

  function send (reply: FastifyReply, { status, body }: Answer): FastifyReply {
    if (status >= 500) reply.header('retry-after', '0')
    return reply.code(status).type('application/hal+json').send(body)
  }

  const api = (path: string): Link => ({ href: `${url}/v2/${path}`, type: 'application/hal+json' })
  const docs = (page: string): Link => ({ href: `${DOCS}/reference/${page}`, type: 'text/html' })

  function find (id: string): FakePayment {
    const payment = payments.get(id)
    if (payment === undefined) throw new Error(`fake Mollie: no payment ${id}`)
    return payment
  }

  function createPayment (body: Record<string, unknown>): FakePayment {
    const id = token('tr_')
    const payment: FakePayment = {
      resource: 'payment',
      id,
      mode: 'test',
      createdAt: now(),
      amount: { ...(body.amount as Amount) },
      description: body.description as string,
      metadata: structuredClone(body.metadata ?? null),
      status: 'open',
      expiresAt: now(15 * 60_000),
      redirectUrl: (body.redirectUrl as string | undefined) ?? null,
      webhookUrl: (body.webhookUrl as string | undefined) ?? null,
      _links: { self: api(`payments/${id}`), checkout: { href: `${url}/checkout/${id}`, type: 'text/html' }, documentation: docs('create-payment') }
    }
    payments.set(id, payment)
    return payment
  }

  /** Refunds `units` (minor units) of a paid payment; the refund, or why not (a 422). */
  function refund (payment: FakePayment, units: number, body: Record<string, unknown> = {}): Answer {
    if (payment.status !== 'paid') return problem(422, `The payment ${payment.id} is ${payment.status} and cannot be refunded`)
    const { currency } = payment.amount
    const remaining = unitsOf(payment.amountRemaining)
    if (units < 1) return problem(422, 'The amount is lower than the minimum', 'amount.value')
    if (units > remaining) return problem(422, `The amount requested to be refunded exceeds the remaining ${money(remaining, currency).value} ${currency}`, 'amount.value')
    payment.amountRefunded = money(unitsOf(payment.amountRefunded) + units, currency)
    payment.amountRemaining = money(remaining - units, currency)
    payment._links.refunds = api(`payments/${payment.id}/refunds`)
    const id = token('re_')
    return {
      status: 201,
      body: {
        resource: 'refund',
        id,
        mode: 'test',
        description: String(body.description ?? ''),
        amount: money(units, currency),
        metadata: body.metadata ?? null,
        status: 'pending',
        paymentId: payment.id,
        createdAt: now(),
        _links: { self: api(`payments/${payment.id}/refunds/${id}`), payment: api(`payments/${payment.id}`), documentation: docs('create-refund') }
      }
    }
  }

  /** A POST with an Idempotency-Key is done once: a repeat gets the first answer, another request under that key a 422. */
  function once (request: FastifyRequest, reply: FastifyReply, run: () => Answer): FastifyReply {
    const key = request.headers['idempotency-key'] as string | undefined
    const signature = `${request.url} ${JSON.stringify(request.body)}`
    const seen = key === undefined ? undefined : answered.get(key)
    if (seen !== undefined) return send(reply, seen.request === signature ? seen.answer : problem(422, 'The Idempotency-Key was already used for another request'))
    const answer = run()
    if (key !== undefined) answered.set(key, { request: signature, answer: structuredClone(answer) })
    return send(reply, answer)
  }

  server.addHook('preHandler', async (request, reply) => {
    const idempotencyKey = request.headers['idempotency-key'] as string | undefined
    requests.push({ method: request.method, path: request.url.split('?')[0], body: request.body, ...(idempotencyKey === undefined ? {} : { idempotencyKey }) })
    if (failure.attempts > 0) { failure.attempts--; return send(reply, problem(failure.status, 'The fake was told to fail this request')) }
    if (request.headers.authorization !== `Bearer ${apiKey}`) return send(reply, problem(401, 'Missing authentication, or failed to authenticate'))
  })
  server.setNotFoundHandler(async (request, reply) => send(reply, problem(404, `No route ${request.method} ${request.url}`)))
  server.setErrorHandler(async (error: { statusCode?: number, message: string }, request, reply) => send(reply, problem(error.statusCode ?? 500, error.message)))

  server.post('/v2/payments', async (request, reply) => once(request, reply, () => {
    const body = (request.body ?? {}) as Record<string, unknown>
    const units = parseAmount(body.amount)
    if (typeof units !== 'number') return units
    if (typeof body.description !== 'string' || body.description.trim() === '') return problem(422, 'The description is required', 'description')
    if (body.description.length > 255) return problem(422, 'The description is longer than 255 characters', 'description')
    if (!URL.canParse(String(body.redirectUrl))) return problem(422, 'The redirect URL is invalid', 'redirectUrl')
    if (body.webhookUrl !== undefined && !URL.canParse(String(body.webhookUrl))) return problem(422, 'The webhook URL is invalid', 'webhookUrl')
    return { status: 201, body: createPayment(body) }
  }))

  server.get<{ Params: { id: string } }>('/v2/payments/:id', async (request, reply) => {
    const { id } = request.params
    return send(reply, payments.has(id) ? { status: 200, body: payments.get(id) } : problem(404, `No payment exists with token ${id}.`))
  })

  server.post<{ Params: { id: string } }>('/v2/payments/:id/refunds', async (request, reply) => once(request, reply, () => {
    const { id } = request.params
    const payment = payments.get(id)
    if (payment === undefined) return problem(404, `No payment exists with token ${id}.`)
    const body = (request.body ?? {}) as Record<string, unknown>
    const units = parseAmount(body.amount, payment.amount.currency)
    return typeof units === 'number' ? refund(payment, units, body) : units
  }))

  function setStatus (id: string, status: PaymentStatus): FakePayment {
    const payment = find(id)
    payment.status = status
    const at = TIMESTAMPS[status]
    if (at !== undefined) payment[at] = now()
    if (at !== undefined && status !== 'authorized') delete payment.expiresAt
    if (status === 'paid') {
      payment.amountRefunded ??= money(0, payment.amount.currency)
      payment.amountRemaining = money(unitsOf(payment.amount) - unitsOf(payment.amountRefunded), payment.amount.currency)
    }
    return payment
  }

  await server.listen({ port: 0, host: '127.0.0.1' })
  url = `https://127.0.0.1:${(server.server.address() as AddressInfo).port}`
  return {
    url,
    apiEndpoint: `${url}/v2/`,
    apiKey,
    payments,
    requests,
    setStatus,
    refundBehindBack (id, value) {
      const payment = find(id)
      const units = value === undefined ? unitsOf(payment.amountRemaining) : parseAmount({ currency: payment.amount.currency, value })
      const answer = typeof units === 'number' ? refund(payment, units) : units
      if (answer.status !== 201) throw new Error(`fake Mollie: cannot refund ${id}: ${JSON.stringify(answer.body)}`)
      return payment
    },
    patch (id, patch) { Object.assign(find(id), structuredClone(patch)) },
    foreign (fields = {}) {
      const { status, ...rest } = fields
      const payment = createPayment({
        amount: rest.amount ?? { currency: 'EUR', value: '10.00' },
        description: 'An order of another store',
        metadata: { order_id: randomUUID() },
        redirectUrl: 'https://another-store.example/return',
        webhookUrl: 'https://another-store.example/webhooks/mollie'
      })
      if (status !== undefined) setStatus(payment.id, status)
      Object.assign(payment, structuredClone(rest))
      return payment
    },
    failNext (status, attempts = status >= 500 ? 3 : 1) { failure = { status, attempts } },
    close: async () => { await server.close() }
  }
}

/** Test helper: starts the fake and closes it on t.teardown. */
export async function fakeMollie (t: { teardown(fn: () => Promise<void> | void): void }): Promise<FakeMollie> {
  const fake = await startFakeMollie()
  t.teardown(fake.close)
  return fake
}
