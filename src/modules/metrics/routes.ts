import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsync } from 'fastify'
import type { Registry } from 'prom-client'

/** The digests of both sides are compared, so neither the token nor its length leaks through timing. */
function sameToken (given: string, token: string): boolean {
  const digest = (value: string): Buffer => createHash('sha256').update(value).digest()
  return timingSafeEqual(digest(given), digest(token))
}

/** The bearer token of an Authorization header, or undefined. */
function bearer (header: string | undefined): string | undefined {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '')
  return match?.[1]
}

/**
 * GET /metrics (machine context: no session, no CSRF): the Prometheus text format for a client
 * presenting METRICS_TOKEN as its bearer token, 401 for anyone else.
 */
export function metricsRoute (registry: Registry, token: string): FastifyPluginAsync {
  return async (app) => {
    app.get('/metrics', async (request, reply) => {
      const given = bearer(request.headers.authorization)
      if (given === undefined || !sameToken(given, token)) {
        return await reply.code(401).header('www-authenticate', 'Bearer realm="metrics"')
          .send({ statusCode: 401, error: 'Send METRICS_TOKEN as a bearer token: Authorization: Bearer <token>.' })
      }
      const text = await registry.metrics()
      // The contract's type exactly (prom-client adds '; charset=utf-8'; the text is ASCII).
      return await reply.header('cache-control', 'no-store').type('text/plain; version=0.0.4').send(text)
    })
  }
}
