import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
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
    metrics: { registry: Registry } | null
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

  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done) => {
    // The route as registered (/content/:slug), so slugs, ids and tokens never become labels.
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE
    duration.observe({ method: request.method, route, status_code: reply.statusCode }, reply.elapsedTime / 1000)
    const outcome: WebhookOutcome | null = request.webhookOutcome
    if (outcome !== null) webhooks.inc({ provider, outcome })
    done()
  })
  app.addHook('onClose', async () => { registry.clear() })
  app.decorate('metrics', { registry })
}, { name: 'metrics', dependencies: ['database', 'purchase'] })

/** GET /metrics, for the machine context: registered only when METRICS_TOKEN is set (else 404). */
export const metricsEndpoint: FastifyPluginAsync = async (app: FastifyInstance) => {
  const { metrics, config: { metricsToken } } = app
  if (metrics === null || metricsToken === null) return
  await app.register(metricsRoute(metrics.registry, metricsToken))
}
