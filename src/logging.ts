/**
 * The one place that decides what a log line may hold: the server and the tests use these
 * options, so every `request.log` call (sign-in, the error handler, Fastify's own request lines)
 * goes through the same serializers.
 */
import type { FastifyRequest, FastifyServerOptions } from 'fastify'

export type LoggerOptions = Exclude<FastifyServerOptions['logger'], boolean | undefined>

// An OAuth code or state in a log could be replayed by whoever reads the log; tokens too.
const SENSITIVE_QUERY = new Set(['code', 'state', 'token', 'access_token', 'id_token'])

// Paths whose next segment is a bearer token: the emailed download link, the sign-in link and
// the unsubscribe link.
const TOKEN_PATHS = ['/d/', '/login/email/', '/unsubscribe/']

/**
 * The URL with a token in its path (`/d/<token>`) and the values of sensitive query parameters
 * replaced by `[redacted]`.
 */
export function redactUrl (url: string): string {
  for (const prefix of TOKEN_PATHS) {
    if (url.startsWith(prefix)) {
      const end = url.slice(prefix.length).search(/[/?#]/)
      url = `${prefix}[redacted]${end === -1 ? '' : url.slice(prefix.length + end)}`
    }
  }
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

// Header values that are credentials, whatever object carries them.
const SECRET_HEADERS = new Set(['cookie', 'set-cookie', 'authorization', 'proxy-authorization', 'stripe-signature'])
// Logged under these keys, an object goes through a serializer above, which keeps no headers.
const SERIALIZED = new Set(['req', 'res', 'err'])
const MAX_DEPTH = 6
const REDACTED = '[redacted]'

/**
 * `value` with every secret header's value replaced, down to MAX_DEPTH levels: a plugin may log
 * the headers anywhere (@fastify/multipart logs busboy's options, the request's headers among
 * them, at trace). Objects are copied where something is replaced, never changed: they are
 * often the live request's. Arrays are walked as Node's raw headers too (name, value, ...).
 */
function scrub (value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i]
      const secret = i > 0 && typeof value[i - 1] === 'string' && SECRET_HEADERS.has((value[i - 1] as string).toLowerCase())
      const clean = secret ? REDACTED : scrub(item, depth + 1)
      if (clean !== item) (copy ??= [...value])[i] = clean
    }
    return copy ?? value
  }
  // Dates, Buffers, URLs: logged as their toJSON, which holds no header.
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return value
  let copy: Record<string, unknown> | undefined
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key]
    const clean = SECRET_HEADERS.has(key.toLowerCase()) && item !== undefined ? REDACTED : scrub(item, depth + 1)
    if (clean !== item) (copy ??= { ...value })[key] = clean
  }
  return copy ?? value
}

/**
 * pino's `formatters.log`: the object of a log call, before the serializers. The request lines
 * at the default level hold only `req` or `res`, which are skipped, so the walk costs nothing
 * there.
 */
function log (object: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined
  for (const key in object) {
    if (SERIALIZED.has(key)) continue
    const item = object[key]
    const clean = SECRET_HEADERS.has(key.toLowerCase()) && item !== undefined ? REDACTED : scrub(item, 1)
    if (clean !== item) (copy ??= { ...object })[key] = clean
  }
  return copy ?? object
}

/**
 * Human-readable lines (pino-pretty) only for a person at a terminal: stdout a TTY and not
 * production. Anywhere else (a service, a pipe, a file) the log stays JSON lines.
 */
export function prettyLogs (stdout: { isTTY?: boolean }, production: boolean): boolean {
  return stdout.isTTY === true && !production
}

export function loggerOptions (level: string, options: { pretty?: boolean } = {}): LoggerOptions {
  return {
    level,
    // Never write secrets or session cookies to the log, wherever a plugin puts the headers.
    serializers: { err, req },
    formatters: { log },
    // The serializers and formatters run here, before a line reaches the transport's thread: the
    // pretty lines hold only what the JSON lines would.
    ...(options.pretty === true
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname', singleLine: true } } }
      : {})
  }
}
