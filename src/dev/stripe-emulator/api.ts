// The /v1 routes the official `stripe` SDK calls, answered in Stripe's wire format: form-encoded
// requests with bracket nesting, Bearer keys, JSON answers and errors, idempotency keys.
import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import qs from 'qs'
import { type Catalog, CatalogError, promotionCodeForVersion } from './catalog.js'
import { parseCreateCoupon, parseCreatePaymentLink, parseCreatePrice, parseCreatePromotionCode, parseUpdatePaymentLink, parseUpdatePromotionCode } from './catalog-params.js'
import { randomId } from './ids.js'
import type { Invoices } from './invoices.js'
import { ApiError, type FormObject, invalid, parseCreateRefund, parseCreateSession, type StripeErrorBody } from './params.js'
import type { CheckoutSession, Payments, Refund, SessionState } from './state.js'

export interface RecordedRequest {
  method: string
  /** Path without the query string. */
  path: string
  /** Parsed query string (e.g. `expand[]`), same nesting rules as the body. */
  query: FormObject
  headers: Record<string, string>
  body: FormObject
  rawBody: string
}

interface StoredResponse {
  fingerprint: string
  status: number
  body: string
}

/** What the API remembers between requests, apart from the payments themselves. */
export class ApiRecord {
  /** Every request, in order, as it arrived. */
  readonly requests: RecordedRequest[] = []
  /** Errors to answer instead of the next requests (test-only, see failNext). */
  readonly failures: Array<{ status: number, error: StripeErrorBody }> = []
  readonly idempotency = new Map<string, StoredResponse>()
}

export interface ApiOptions {
  payments: Payments
  catalog: Catalog
  invoices: Invoices
  record: ApiRecord
  log: (msg: string) => void
}

// The SDK nests at most four levels (line_items[0][price_data][product_data][name]).
// arrayLimit above Stripe's 100 line items, so a 101st is refused as such rather than read as an object.
const QS_OPTIONS = { depth: 10, arrayLimit: 1000, duplicates: 'last' } as const
const rawBodies = new WeakMap<FastifyRequest, string>()

function sendJson (reply: FastifyReply, status: number, body: string, headers: Record<string, string> = {}): FastifyReply {
  // A Buffer, so Fastify adds no charset: Stripe answers plain `application/json`.
  return reply.code(status).type('application/json').headers(headers).send(Buffer.from(body))
}

function flatHeaders (request: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(request.headers)) {
    if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v
  }
  return out
}

const pathOf = (request: FastifyRequest): string => request.url.split('?')[0] ?? ''

function recordRequest (request: FastifyRequest): RecordedRequest {
  const search = request.url.indexOf('?')
  return {
    method: request.method,
    path: pathOf(request),
    query: search === -1 ? {} : qs.parse(request.url.slice(search + 1), QS_OPTIONS),
    headers: flatHeaders(request),
    body: (request.body as FormObject | undefined) ?? {},
    rawBody: rawBodies.get(request) ?? ''
  }
}

function authenticate (headers: Record<string, string>): void {
  const auth = headers.authorization ?? ''
  if (!auth.startsWith('Bearer ')) {
    throw new ApiError(401, {
      type: 'invalid_request_error',
      message:
        "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
    })
  }
  const key = auth.slice('Bearer '.length).trim()
  if (!key.startsWith('sk_')) {
    throw new ApiError(401, {
      type: 'invalid_request_error',
      code: 'api_key_invalid',
      message: `Invalid API Key provided: ${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}`
    })
  }
}

/** The request's idempotency key (POST only, as Stripe) and what a replay must match. */
function idempotency (request: FastifyRequest): { key: string, fingerprint: string } | undefined {
  const header = request.headers['idempotency-key']
  const key = request.method === 'POST' ? (Array.isArray(header) ? header.join(', ') : header) : undefined
  if (key === undefined || key === '') return undefined
  return { key, fingerprint: `${request.method} ${pathOf(request)}\n${rawBodies.get(request) ?? ''}` }
}

/** Errors in Stripe's shape: ours as thrown, Fastify's (body too large) translated, anything else a 500. */
export function stripeErrorHandler (log: (msg: string) => void) {
  return async (error: FastifyError | ApiError, _request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    if (error instanceof ApiError) return sendJson(reply, error.status, JSON.stringify({ error: error.body }))
    if (error.statusCode === 413) {
      return sendJson(reply, 413, JSON.stringify({ error: { type: 'invalid_request_error', message: 'Request body too large.' } }))
    }
    log(`stripe-emulator: internal error: ${error.stack ?? error.message}`)
    return sendJson(reply, 500, JSON.stringify({ error: { type: 'api_error', message: 'Internal emulator error.' } }))
  }
}

/**
 * Runs for every /v1 request, known route or not, in Stripe's order: record, authenticate,
 * injected failure, idempotent replay.
 */
function beforeEveryRequest (record: ApiRecord) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const recorded = recordRequest(request)
    record.requests.push(recorded)
    authenticate(recorded.headers)
    const failure = record.failures.shift()
    if (failure !== undefined) {
      // Tell the SDK not to retry, so an injected 5xx surfaces to the app
      // instead of being silently absorbed by the SDK's own retries.
      return sendJson(reply, failure.status, JSON.stringify({ error: failure.error }), { 'Stripe-Should-Retry': 'false' })
    }
    const idem = idempotency(request)
    const stored = idem === undefined ? undefined : record.idempotency.get(idem.key)
    if (idem === undefined || stored === undefined) return undefined
    if (stored.fingerprint !== idem.fingerprint) {
      throw new ApiError(400, {
        type: 'idempotency_error',
        message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idem.key}' if you meant to execute a different request.`
      })
    }
    return sendJson(reply, stored.status, stored.body, { 'Idempotent-Replayed': 'true', 'Idempotency-Key': idem.key })
  }
}

/** POST /v1/refunds: what Stripe refuses, refused the same way; else the refund, its event on its way. */
function createRefund (payments: Payments, body: FormObject, log: (msg: string) => void): Refund {
  const params = parseCreateRefund(body)
  const found = payments.byPaymentIntent(params.paymentIntent)
  if (found === undefined) {
    throw new ApiError(404, { type: 'invalid_request_error', code: 'resource_missing', param: 'payment_intent', message: `No such payment_intent: '${params.paymentIntent}'` })
  }
  const { session, state } = found
  if (session.payment_status !== 'paid' || state.chargeId === null) {
    throw invalid(`This PaymentIntent (${params.paymentIntent}) does not have a successful charge to refund.`, 'payment_intent')
  }
  const remaining = session.amount_total - state.amountRefunded
  if (remaining <= 0) {
    throw new ApiError(400, { type: 'invalid_request_error', code: 'charge_already_refunded', message: `Charge ${state.chargeId} has already been refunded.` })
  }
  if (params.amount !== undefined && params.amount > remaining) {
    throw new ApiError(400, { type: 'invalid_request_error', code: 'amount_too_large', param: 'amount', message: `Refund amount (${params.amount}) is greater than unrefunded amount on charge (${remaining})` })
  }
  const { refund, delivered } = payments.refundNow(session.id, params.amount)
  delivered.catch((error: unknown) => { log(`stripe-emulator: charge.refunded delivery failed: ${String(error)}`) })
  return { ...refund, reason: params.reason }
}

/** A catalog refusal as Stripe answers it: 404 for the object in the path, 400 for the rest. */
function catalogCall<T> (run: () => T): T {
  try {
    return run()
  } catch (error) {
    if (!(error instanceof CatalogError)) throw error
    const param = error.param === undefined ? {} : { param: error.param }
    if (error.kind === 'missing') throw new ApiError(404, { type: 'invalid_request_error', code: 'resource_missing', message: error.message, ...param })
    if (error.kind === 'exists') throw new ApiError(400, { type: 'invalid_request_error', code: 'resource_already_exists', message: error.message, ...param })
    throw new ApiError(400, { type: 'invalid_request_error', ...(error.message.startsWith('No such') ? { code: 'resource_missing' } : {}), message: error.message, ...param })
  }
}

function missing (kind: string, id: string): ApiError {
  return new ApiError(404, { type: 'invalid_request_error', code: 'resource_missing', param: 'id', message: `No such ${kind}: '${id}'` })
}

type Respond = (request: FastifyRequest, reply: FastifyReply, object: object) => FastifyReply

/** A session's line items as GET /v1/checkout/sessions/:id/line_items lists them. */
function lineItemList (session: CheckoutSession, state: SessionState): object {
  return {
    object: 'list',
    data: state.lines.map((line) => ({
      id: line.id,
      object: 'item',
      amount_discount: line.amountDiscount,
      amount_subtotal: line.amountSubtotal,
      amount_tax: line.amountTax,
      amount_total: line.amountTotal,
      currency: line.currency,
      description: line.description,
      quantity: line.quantity,
      price: {
        id: `price_${line.id.slice('li_'.length)}`,
        object: 'price',
        active: false,
        currency: line.currency,
        product: `prod_${line.id.slice('li_'.length, 'li_'.length + 14)}`,
        tax_behavior: line.taxBehavior ?? 'unspecified',
        type: 'one_time',
        unit_amount: line.unitAmount
      }
    })),
    has_more: false,
    url: `/v1/checkout/sessions/${session.id}/line_items`
  }
}

/** The session, with its line items when the request asks for `expand[]=line_items`. */
function sessionWithExpand (request: FastifyRequest, session: CheckoutSession, state: SessionState): object {
  const search = request.url.indexOf('?')
  const expand = search === -1 ? undefined : qs.parse(request.url.slice(search + 1), QS_OPTIONS).expand
  const wanted = Array.isArray(expand) ? expand : typeof expand === 'string' ? [expand] : []
  return wanted.includes('line_items') ? { ...session, line_items: lineItemList(session, state) } : session
}

/** Webhook endpoints, as `npm run doctor` lists and creates them: kept in memory, never called. */
function webhookEndpointRoutes (app: FastifyInstance, respond: Respond): void {
  const endpoints: Array<{ id: string, object: 'webhook_endpoint', url: string, enabled_events: string[], status: 'enabled', livemode: false }> = []
  app.get('/webhook_endpoints', async (request, reply) =>
    respond(request, reply, { object: 'list', data: endpoints, has_more: false, url: '/v1/webhook_endpoints' }))
  app.post('/webhook_endpoints', async (request, reply) => {
    const { url, enabled_events: events } = (request.body as FormObject | undefined) ?? {}
    if (typeof url !== 'string' || !Array.isArray(events) || events.length === 0) throw invalid('A webhook endpoint needs a url and enabled_events.')
    const endpoint = { id: randomId('we_', 24), object: 'webhook_endpoint' as const, url, enabled_events: events.map(String), status: 'enabled' as const, livemode: false as const }
    endpoints.push(endpoint)
    return respond(request, reply, { ...endpoint, secret: randomId('whsec_', 32) })
  })
}

/** Checkout Sessions (create, retrieve, line items, expire) and the invoices they create. */
function checkoutRoutes (app: FastifyInstance, payments: Payments, invoices: Invoices, respond: Respond): void {
  const sessionOr404 = (id: string): CheckoutSession => {
    const session = payments.sessions.get(id)
    if (session !== undefined) return session
    throw new ApiError(404, { type: 'invalid_request_error', code: 'resource_missing', param: 'session', message: `No such checkout session: '${id}'` })
  }

  app.post('/checkout/sessions', async (request, reply) =>
    respond(request, reply, payments.create(parseCreateSession((request.body as FormObject | undefined) ?? {}))))

  app.get<{ Params: { id: string } }>('/checkout/sessions/:id', async (request, reply) => {
    const session = sessionOr404(request.params.id)
    return respond(request, reply, sessionWithExpand(request, session, payments.find(session.id)!.state))
  })

  app.get<{ Params: { id: string } }>('/checkout/sessions/:id/line_items', async (request, reply) => {
    const session = sessionOr404(request.params.id)
    return respond(request, reply, lineItemList(session, payments.find(session.id)!.state))
  })

  app.get<{ Params: { id: string } }>('/invoices/:id', async (request, reply) => {
    const found = invoices.get(request.params.id)
    if (found === undefined) throw missing('invoice', request.params.id)
    return respond(request, reply, found.invoice)
  })

  app.post<{ Params: { id: string } }>('/checkout/sessions/:id/expire', async (request, reply) => {
    const session = sessionOr404(request.params.id)
    if (session.status !== 'open') {
      throw invalid(`Only Checkout Sessions with a status of open can be expired. This session has a status of ${session.status}.`)
    }
    await payments.expire(session.id)
    return respond(request, reply, session)
  })
}

const api: FastifyPluginAsync<ApiOptions> = async (app, { payments, catalog, invoices, record, log }) => {
  // Like the SDK's requests, every body is read as a form in Stripe's bracket encoding; the raw
  // text is kept for the idempotency check and the recorded request.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    rawBodies.set(request, body as string)
    done(null, qs.parse(body as string, QS_OPTIONS))
  })
  app.addHook('onSend', async (_request, reply) => { reply.header('Request-Id', randomId('req_', 14)) })
  app.setErrorHandler(stripeErrorHandler(log))

  app.addHook('preHandler', beforeEveryRequest(record))

  /** Answers 200 with the object; like Stripe, only requests that actually executed are stored for replay. */
  const respond = (request: FastifyRequest, reply: FastifyReply, object: object): FastifyReply => {
    const json = JSON.stringify(object)
    const idem = idempotency(request)
    if (idem === undefined) return sendJson(reply, 200, json)
    record.idempotency.set(idem.key, { fingerprint: idem.fingerprint, status: 200, body: json })
    return sendJson(reply, 200, json, { 'Idempotency-Key': idem.key })
  }

  checkoutRoutes(app, payments, invoices, respond)

  app.post('/refunds', async (request, reply) =>
    respond(request, reply, createRefund(payments, (request.body as FormObject | undefined) ?? {}, log)))

  const bodyOf = (request: FastifyRequest): FormObject => (request.body as FormObject | undefined) ?? {}
  type Id = { Params: { id: string } }

  app.post('/coupons', async (request, reply) =>
    respond(request, reply, catalogCall(() => catalog.createCoupon(parseCreateCoupon(bodyOf(request))))))
  app.get<Id>('/coupons/:id', async (request, reply) => {
    const coupon = catalog.coupons.get(request.params.id)
    if (coupon === undefined) throw missing('coupon', request.params.id)
    return respond(request, reply, coupon)
  })

  // A promotion code answers in the shape of the API version the request asked for.
  const promotionCode = (request: FastifyRequest, reply: FastifyReply, code: ReturnType<Catalog['createPromotionCode']>): FastifyReply => {
    const version = request.headers['stripe-version']
    return respond(request, reply, promotionCodeForVersion(code, catalog.coupons.get(code.promotion.coupon), Array.isArray(version) ? version[0] : version))
  }
  app.post('/promotion_codes', async (request, reply) =>
    promotionCode(request, reply, catalogCall(() => catalog.createPromotionCode(parseCreatePromotionCode(bodyOf(request))))))
  app.get<Id>('/promotion_codes/:id', async (request, reply) => {
    const code = catalog.promotionCodes.get(request.params.id)
    if (code === undefined) throw missing('promotion_code', request.params.id)
    return promotionCode(request, reply, code)
  })
  app.post<Id>('/promotion_codes/:id', async (request, reply) =>
    promotionCode(request, reply, catalogCall(() => catalog.updatePromotionCode(request.params.id, parseUpdatePromotionCode(bodyOf(request))))))

  app.post('/prices', async (request, reply) =>
    respond(request, reply, catalog.createPrice(parseCreatePrice(bodyOf(request)))))
  app.get<Id>('/prices/:id', async (request, reply) => {
    const price = catalog.prices.get(request.params.id)
    if (price === undefined) throw missing('price', request.params.id)
    return respond(request, reply, price)
  })

  app.post('/payment_links', async (request, reply) =>
    respond(request, reply, catalogCall(() => catalog.createPaymentLink(parseCreatePaymentLink(bodyOf(request))))))
  app.get<Id>('/payment_links/:id', async (request, reply) => {
    const link = catalog.paymentLinks.get(request.params.id)
    if (link === undefined) throw missing('payment_link', request.params.id)
    return respond(request, reply, link)
  })
  app.post<Id>('/payment_links/:id', async (request, reply) =>
    respond(request, reply, catalogCall(() => catalog.updatePaymentLink(request.params.id, parseUpdatePaymentLink(bodyOf(request))))))

  webhookEndpointRoutes(app, respond)

  app.setNotFoundHandler(async (request) => {
    throw new ApiError(404, {
      type: 'invalid_request_error',
      message: `Unrecognized request URL (${request.method}: ${pathOf(request)}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`
    })
  })
}

export default api
