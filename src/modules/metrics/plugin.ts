import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client'
import type { WebhookOutcome } from '../purchase/plugin.js'
import { registerDatabaseGauges } from './database-gauges.js'
import { metricsRoute } from './routes.js'

/** The label of a request no route matched: a random URL must not add a label value. */
export const UNMATCHED_ROUTE = 'unmatched'

declare module 'fastify' {
  interface FastifyInstance {
    /** This app's metrics (its own registry: several apps may run in one process), null when METRICS_TOKEN is unset. */
    metrics: { registry: Registry, observe: (request: FastifyRequest, statusCode: number, seconds: number) => void } | null
  }
}

/**
 * The metrics module (METRICS_TOKEN set): a registry of this app's own with the default process
 * and Node metrics, the request histogram and the webhook counter (per instance, kept by the
 * hook below), and the gauges read from the database at scrape time (the same on every
 * instance). With METRICS_TOKEN unset nothing is registered and no hook runs.
 */
export default fp(async function metrics (app) {
  const token = app.config.metricsToken
  if (token === null) {
    app.decorate('metrics', null)
    return
  }
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer a request, by method, registered route (never the raw URL) and status code.',
    labelNames: ['method', 'route', 'status_code'],
    registers: [registry]
  })
  const webhooks = new Counter({
    name: 'pdfmarket_webhook_events_total',
    help: 'Webhook deliveries by provider and outcome (applied, duplicate, ignored, rejected).',
    labelNames: ['provider', 'outcome'],
    registers: [registry]
  })
  registerDatabaseGauges(registry, app.database)
  const provider = app.config.paymentProvider

  // One child per label combination, found by a plain string key: prom-client's observe(labels)
  // hashes the label object on every call. The combinations are bounded: registered routes x
  // methods x status codes.
  const children = new Map<string, { observe: (value: number) => void }>()
  /** Called by app.ts's onSend hook (one hook for the Server-Timing header and this). */
  function observe (request: FastifyRequest, statusCode: number, seconds: number): void {
    // The route as registered (/content/:slug), so slugs, ids and tokens never become labels.
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE
    const key = `${request.method} ${statusCode} ${route}`
    let child = children.get(key)
    if (child === undefined) {
      child = duration.labels({ method: request.method, route, status_code: statusCode })
      children.set(key, child)
    }
    child.observe(seconds)
    const outcome: WebhookOutcome | null = request.webhookOutcome
    if (outcome !== null) webhooks.inc({ provider, outcome })
  }
  app.addHook('onClose', async () => { registry.clear() })
  app.decorate('metrics', { registry, observe })
}, { name: 'metrics', dependencies: ['database', 'purchase'] })

/** GET /metrics, for the machine context: registered only when METRICS_TOKEN is set (else 404). */
export const metricsEndpoint: FastifyPluginAsync = async (app: FastifyInstance) => {
  const { metrics, config: { metricsToken } } = app
  if (metrics === null || metricsToken === null) return
  await app.register(metricsRoute(metrics.registry, metricsToken))
}
