// The /v2 routes the official `@mollie/api-client` calls, in Mollie's wire format: JSON bodies,
// Bearer API keys, application/hal+json answers and errors, Idempotency-Key on POSTs.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { AUTHENTICATION_DOCUMENTATION, MollieError, mollieErrorHandler, sendHal } from './errors.js'
import { parseCreatePayment, parseCreateRefund } from './params.js'
import type { MolliePayment, Payments } from './state.js'

export interface ApiOptions {
  payments: Payments
  /** The key every request must carry; undefined accepts any `test_` or `live_` key. */
  apiKey: string | undefined
  apiUrl: () => string
  log: (msg: string) => void
}

interface StoredResponse {
  fingerprint: string
  status: number
  body: string
}

type IdParams = { Params: { id: string } }

const rawBodies = new WeakMap<FastifyRequest, string>()
const keys = new WeakMap<FastifyRequest, string>()
const pathOf = (request: FastifyRequest): string => request.url.split('?')[0] ?? ''
const header = (request: FastifyRequest, name: string): string | undefined => {
  const value = request.headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

/** The request's API key, or a 401 like Mollie's. */
function authenticate (request: FastifyRequest, expected: string | undefined): string {
  const auth = header(request, 'authorization') ?? ''
  const key = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : ''
  const valid = expected === undefined ? /^(test|live)_\w+$/.test(key) : key === expected
  if (!valid) throw new MollieError(401, 'Missing authentication, or failed to authenticate', undefined, AUTHENTICATION_DOCUMENTATION)
  return key
}

/** The idempotency key (POST only) scoped to the API key, and what a replay must match. */
function idempotency (request: FastifyRequest): { key: string, fingerprint: string } | undefined {
  const key = request.method === 'POST' ? header(request, 'idempotency-key') : undefined
  if (key === undefined || key === '') return undefined
  return { key: `${keys.get(request) ?? ''}\n${key}`, fingerprint: `${request.method} ${pathOf(request)}\n${rawBodies.get(request) ?? ''}` }
}

const api: FastifyPluginAsync<ApiOptions> = async (app, { payments, apiKey, apiUrl, log }) => {
  const stored = new Map<string, StoredResponse>()

  // The client sends JSON; the raw text is kept for the idempotency check.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string
    rawBodies.set(request, text)
    if (text.trim() === '') {
      done(null, {})
      return
    }
    try {
      done(null, JSON.parse(text))
    } catch {
      done(new MollieError(400, 'The JSON in the request body could not be parsed'), undefined)
    }
  })
  app.setErrorHandler(mollieErrorHandler(log))

  // In Mollie's order: authenticate, then replay an idempotent request already answered.
  app.addHook('preHandler', async (request, reply) => {
    keys.set(request, authenticate(request, apiKey))
    const idem = idempotency(request)
    const previous = idem === undefined ? undefined : stored.get(idem.key)
    if (idem === undefined || previous === undefined) return undefined
    if (previous.fingerprint !== idem.fingerprint) {
      throw new MollieError(422, 'The Idempotency-Key has already been used for a different request')
    }
    return sendHal(reply, previous.status, previous.body)
  })

  /** Answers with the resource; a request that executed is stored for replay under its key. */
  const respond = (request: FastifyRequest, reply: FastifyReply, status: number, resource: unknown): FastifyReply => {
    const body = JSON.stringify(resource)
    const idem = idempotency(request)
    if (idem !== undefined) stored.set(idem.key, { fingerprint: idem.fingerprint, status, body })
    return sendHal(reply, status, body)
  }

  const paymentOr404 = (id: string): MolliePayment => {
    const payment = payments.payments.get(id)
    if (payment === undefined) throw new MollieError(404, `No payment exists with token ${id}.`)
    return payment
  }

  app.post('/payments', async (request, reply) => {
    const params = parseCreatePayment(request.body)
    const mode = (keys.get(request) ?? '').startsWith('live_') ? 'live' : 'test'
    return respond(request, reply, 201, payments.create(params, mode))
  })

  app.get<IdParams>('/payments/:id', async (request, reply) =>
    respond(request, reply, 200, paymentOr404(request.params.id)))

  app.post<IdParams>('/payments/:id/refunds', async (request, reply) => {
    paymentOr404(request.params.id)
    const { refund, delivered } = payments.refund(request.params.id, parseCreateRefund(request.body))
    delivered.catch((error: unknown) => { log(`mollie-emulator: refund webhook failed: ${String(error)}`) })
    return respond(request, reply, 201, refund)
  })

  app.get<IdParams>('/payments/:id/refunds', async (request, reply) => {
    const { id } = paymentOr404(request.params.id)
    const refunds = payments.refundsOf(id)
    return respond(request, reply, 200, {
      count: refunds.length,
      _embedded: { refunds },
      _links: {
        self: { href: `${apiUrl()}/v2/payments/${id}/refunds`, type: 'application/hal+json' },
        previous: null,
        next: null,
        documentation: { href: 'https://docs.mollie.com/reference/list-refunds', type: 'text/html' }
      }
    })
  })

  app.get<{ Params: { id: string, refundId: string } }>('/payments/:id/refunds/:refundId', async (request, reply) => {
    const { id } = paymentOr404(request.params.id)
    const refund = payments.refundsOf(id).find((r) => r.id === request.params.refundId)
    if (refund === undefined) throw new MollieError(404, `No refund exists with token ${request.params.refundId}.`)
    return respond(request, reply, 200, refund)
  })

  app.setNotFoundHandler(async (request) => {
    authenticate(request, apiKey)
    throw new MollieError(404, `The resource ${request.method} ${pathOf(request)} does not exist`)
  })
}

export default api
