/**
 * The one place that decides what a log line may hold: the server and the tests use these
 * options, so every `request.log` call (sign-in, the error handler, Fastify's own request lines)
 * goes through the same serializers.
 */
import type { FastifyRequest, FastifyServerOptions } from 'fastify'

export type LoggerOptions = Exclude<FastifyServerOptions['logger'], boolean | undefined>

// An OAuth code or state in a log could be replayed by whoever reads the log; tokens too.
const SENSITIVE_QUERY = new Set(['code', 'state', 'token', 'access_token', 'id_token'])

/** The URL with the values of sensitive query parameters replaced by `[redacted]`. */
export function redactUrl (url: string): string {
  const query = url.indexOf('?')
  if (query === -1) return url
  const hash = url.indexOf('#', query)
  const end = hash === -1 ? url.length : hash
  // Rewritten by hand rather than with URLSearchParams so the rest of the query stays as sent.
  const params = url.slice(query + 1, end).split('&').map((pair) => {
    const eq = pair.indexOf('=')
    const name = eq === -1 ? pair : pair.slice(0, eq)
    let decoded = name
    try { decoded = decodeURIComponent(name.replace(/\+/g, ' ')) } catch {}
    return eq !== -1 && SENSITIVE_QUERY.has(decoded.toLowerCase()) ? `${name}=[redacted]` : pair
  })
  return url.slice(0, query + 1) + params.join('&') + url.slice(end)
}

/**
 * Only what helps to find the fault. HTTP client errors (simple-oauth2's @hapi/wreck, Stripe,
 * fetch) carry the request they sent, with its Authorization header and body, and the answer:
 * pino's standard serializer would write all of that. A cause (Stripe's message behind a 502)
 * is kept, cut down the same way.
 */
function err (error: unknown, depth = 0): { type: string, message: string, stack: string, [key: string]: unknown } {
  if (typeof error !== 'object' || error === null) return { type: typeof error, message: String(error), stack: '' }
  const e = error as Record<string, unknown>
  const output = e.output as { statusCode?: unknown } | undefined // @hapi/boom keeps the status here
  return {
    type: error instanceof Error ? error.constructor.name : 'Object',
    message: String(e.message ?? ''),
    code: e.code,
    statusCode: e.statusCode ?? output?.statusCode,
    // Absent on a plain object such as { message }; pino leaves undefined fields out.
    stack: e.stack as string,
    cause: e.cause === undefined || depth >= 3 ? undefined : typeof e.cause === 'string' ? e.cause : err(e.cause, depth + 1)
  }
}

// Fastify's own request serializer with the URL redacted (and without accept-version: no
// route here is versioned).
function req (request: FastifyRequest) {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort
  }
}

export function loggerOptions (level: string): LoggerOptions {
  return {
    level,
    serializers: { err, req },
    // Never write secrets or session cookies to the log (should anything log the headers).
    redact: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["stripe-signature"]', 'res.headers["set-cookie"]']
  }
}
