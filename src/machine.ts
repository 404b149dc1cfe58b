import type { FastifyPluginAsync } from 'fastify'
import { jsonErrors } from './http/errors.js'
import healthRoutes from './http/health.js'
import { metricsEndpoint } from './modules/metrics/plugin.js'
import webhookRoutes from './modules/purchase/webhook-routes.js'

/**
 * Endpoints for machines (load balancers, Stripe, Prometheus): raw bodies and JSON answers, and nothing of
 * the site (no session, CSRF, flash or pages). Adding one is adding a route here.
 */
const machine: FastifyPluginAsync<{ now?: () => number }> = async (app, options) => {
  await app.register(jsonErrors)
  // Webhook signatures are computed over the exact bytes sent: bodies stay raw buffers.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }, (_request, body, done) => { done(null, body) })
  await app.register(healthRoutes)
  await app.register(metricsEndpoint)
  await app.register(webhookRoutes, { prefix: '/webhooks', now: options.now })
}
export default machine
