// A small Mollie-compatible server for demo mode. It speaks api.mollie.com's v2 wire format for
// the subset the app uses (create and get a payment, refund it), serves a hosted checkout page
// like Mollie's test mode and a payments dashboard, and calls webhooks as Mollie does, so the
// official `@mollie/api-client` runs unmodified against it. Two Fastify apps:
//   the API, on https with a certificate made at start (the client speaks only https and pins
//     its own CA bundle, so the process talking to it sets NODE_TLS_REJECT_UNAUTHORIZED=0):
//     api.ts (routes), params.ts (validation), errors.ts (Mollie's error bodies);
//   the pages, on plain http on loopback so a demo buyer's browser shows no certificate
//     warning: pages.ts (views/dev/mollie-emulator/).
// state.ts holds payments and refunds, webhooks.ts calls webhookUrl with retries.
// Never imported in production: only demo mode (src/dev/demo.ts) and tests.
import { isIP } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify'
import selfsigned from 'selfsigned'
import { savedState } from '../saved-state.js'
import { Lifetime } from '../stripe-emulator/lifetime.js'
import api from './api.js'
import { mollieErrorHandler } from './errors.js'
import pages from './pages.js'
import { type MolliePayment, type Outcome, Payments, type PaymentsSnapshot } from './state.js'
import { DEFAULT_RETRY_DELAYS_MS, type Delivery, Webhooks } from './webhooks.js'

export type { MollieErrorBody } from './errors.js'
export type { Amount } from './params.js'
export type { MolliePayment, MollieRefund, Outcome, PaymentStatus } from './state.js'
export type { Delivery } from './webhooks.js'

export interface MollieEmulatorOptions {
  host?: string
  /** The https API's port; 0 (default) picks a free one. */
  port?: number
  /** The http pages' port; 0 (default) picks a free one. */
  pagesPort?: number
  /** The only key accepted; by default any `test_...` or `live_...` key is. */
  apiKey?: string
  /** Waits between webhook attempts after a failed one; its length bounds the retries. */
  retryDelaysMs?: number[]
  log?: (msg: string) => void
  /**
   * Where a browser finds the checkout page and the dashboard, when not on the pages server's
   * own origin: demo mode mounts `pages` in the app and passes `${PUBLIC_URL}/dev/mollie`.
   */
  pagesUrl?: string
  /** A JSON file keeping the payments and refunds across restarts (read at start, written on change). */
  stateFile?: string
}

export interface MollieEmulator {
  /** The https API origin, e.g. https://127.0.0.1:40123. */
  url: string
  /** What createMollieClient's `apiEndpoint` takes: `${url}/v2/`. */
  apiEndpoint: string
  /** The http origin of the checkout page and the dashboard (`/dashboard/payments`). */
  pagesUrl: string
  /** The checkout page and the dashboard, to register in another Fastify app under a prefix. */
  pages: FastifyPluginAsync
  close(): Promise<void>
  /** Every payment, by id, as the API answers it (changing one changes what the next GET says). */
  payments: Map<string, MolliePayment>
  /** What a buyer's click on the checkout page does, without the redirect: the status, then the webhook's first attempt. */
  complete(paymentId: string, outcome: Outcome): Promise<void>
  /** Refunds the amount ("4.00") or what remains, and calls the webhook (first attempt awaited). */
  refund(paymentId: string, amountValue?: string): Promise<void>
  /** Test-only: every webhook attempt, in order. */
  deliveries: Delivery[]
}

const origin = (scheme: string, host: string, server: FastifyInstance): string => {
  const address = server.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`
}

/** A certificate for loopback (and the host asked for), valid for a year. */
async function certificate (host: string): Promise<{ key: string, cert: string }> {
  const altNames: Array<{ type: 2, value: string } | { type: 7, ip: string }> = [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }]
  if (host !== '127.0.0.1' && host !== 'localhost') altNames.push(isIP(host) === 0 ? { type: 2, value: host } : { type: 7, ip: host })
  const notAfterDate = new Date(Date.now() + 365 * 24 * 3600 * 1000)
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'mollie-emulator' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate,
    extensions: [{ name: 'subjectAltName', altNames }]
  })
  return { key: pems.private, cert: pems.cert }
}

export async function startMollieEmulator (opts: MollieEmulatorOptions = {}): Promise<MollieEmulator> {
  const host = opts.host ?? '127.0.0.1'
  const log = opts.log ?? ((): void => undefined)
  const lifetime = new Lifetime()
  let apiUrl = ''
  let pagesUrl = ''
  const webhooks = new Webhooks({ retryDelaysMs: opts.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS, lifetime, log })
  const saved = opts.stateFile === undefined ? null : savedState(opts.stateFile, 1, (): PaymentsSnapshot => payments.snapshot(), log)
  const payments: Payments = new Payments({ webhooks, apiUrl: () => apiUrl, pagesUrl: () => opts.pagesUrl ?? pagesUrl, log, changed: saved?.save })
  if (saved?.loaded !== undefined) payments.restore(saved.loaded)

  // No logger and no HEAD routes; close() drops the client's keep-alive sockets at once.
  const apiServer = Fastify({ logger: false, exposeHeadRoutes: false, forceCloseConnections: true, https: await certificate(host) })
  apiServer.setErrorHandler(mollieErrorHandler(log))
  apiServer.register(api, { prefix: '/v2', payments, apiKey: opts.apiKey, apiUrl: () => apiUrl, log })
  const pagesServer = Fastify({ logger: false, exposeHeadRoutes: false, forceCloseConnections: true })
  pagesServer.register(pages, { payments, log })

  try {
    await apiServer.listen({ port: opts.port ?? 0, host })
    await pagesServer.listen({ port: opts.pagesPort ?? 0, host })
  } catch (err) {
    await Promise.all([apiServer.close(), pagesServer.close()])
    throw err
  }
  apiUrl = origin('https', host, apiServer)
  pagesUrl = origin('http', host, pagesServer)

  let closing: Promise<void> | null = null
  const close = async (): Promise<void> => {
    closing ??= (async () => {
      lifetime.end()
      await Promise.all([apiServer.close(), pagesServer.close()])
    })()
    await closing
  }

  return {
    url: apiUrl,
    apiEndpoint: `${apiUrl}/v2/`,
    pagesUrl: opts.pagesUrl ?? pagesUrl,
    pages: async (app) => { await app.register(pages, { payments, log }) },
    close,
    payments: payments.payments,
    complete: async (paymentId, outcome) => { await payments.complete(paymentId, outcome) },
    refund: async (paymentId, amountValue) => { await payments.refundValue(paymentId, amountValue).delivered },
    deliveries: webhooks.deliveries
  }
}
