import rateLimit from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import { HttpError } from '../errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Counted against RATE_LIMIT_PER_MINUTE per client (sign-in and checkout). */
    rateLimited?: boolean
  }
}

/**
 * Per-client limits on the routes that reach a provider: sign-in and checkout. Counted in this
 * process's memory: several instances each allow the limit (README, "Running several instances").
 */
export default fp(async function rateLimitPlugin (app) {
  const limit = app.config.rateLimitPerMinute
  app.addHook('onRoute', (route) => {
    if (route.config?.rateLimited === true && limit > 0) {
      route.config = { ...route.config, rateLimit: { max: limit, timeWindow: 60_000 } }
    }
  })
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) => new HttpError(429,
      `Too many requests from your address. Please wait ${Math.ceil(context.ttl / 1000)} seconds and try again.`)
  })
}, { name: 'rate-limit' })
