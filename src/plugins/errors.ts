import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { DomainError } from '../services/errors.js'

/** A 4xx whose message is written for the person who will read it. */
export class HttpError extends Error {
  constructor (readonly statusCode: number, message: string) {
    super(message)
    this.name = 'HttpError'
  }
}

// Messages for errors raised by Fastify and its plugins, which speak to developers.
const friendly: Record<string, string> = {
  FST_CSRF_INVALID_TOKEN: 'This form has expired or did not come from this site. Go back, reload the page and try again.',
  FST_CSRF_MISSING_SECRET: 'This form has expired or did not come from this site. Go back, reload the page and try again.',
  FST_ERR_CTP_BODY_TOO_LARGE: 'That request is too large.',
  FST_REQ_FILE_TOO_LARGE: 'That file is too large.',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'That kind of request body is not accepted here.',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'The request body is empty.',
  FST_ERR_CTP_INVALID_JSON_BODY: 'The request body is not valid JSON.',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'The form must be sent as multipart/form-data.'
}

// Plugins that answer with a bare HTTP phrase (@fastify/send refuses odd static paths so).
const bare: Record<string, string> = {
  Forbidden: 'This address cannot be opened. Check the link, or start again from the catalogue.',
  'Not Found': 'There is nothing at this address. It may have been removed, or the link may be mistyped.'
}

const titles: Record<number, string> = {
  400: 'That did not work',
  401: 'Please sign in',
  403: 'Not allowed',
  404: 'Page not found',
  409: 'Already taken',
  413: 'Too large',
  416: 'Range not satisfiable',
  408: 'Took too long',
  429: 'Slow down',
  // 502 answers both a payment provider and a sign-in provider that did not answer.
  502: 'Provider unavailable',
  503: 'Temporarily unavailable'
}

/** JSON for machine routes and clients that ask for it; a page for everyone else. */
export function wantsJson (request: FastifyRequest): boolean {
  if (request.url.startsWith('/webhooks/') || request.url.startsWith('/healthz')) return true
  const accept = request.headers.accept ?? ''
  return accept.includes('application/json') && !accept.includes('text/html')
}

/**
 * The layout's data (who is signed in, the demo banner) for a page rendered where the views
 * plugin's GET preHandler did not run: an error raised in an onRequest hook (a reader on an admin
 * page), or a form answered to a POST. Without it such pages showed "Sign in" to a signed-in user.
 */
export function ensurePageLocals (request: FastifyRequest, reply: FastifyReply): void {
  if (reply.locals?.path !== undefined) return
  const user = request.user
  reply.locals = {
    ...reply.locals,
    user: user === null ? null : { id: user.id, name: user.name, email: user.email, isAdmin: user.is_admin === 1 },
    csrfToken: user === null ? null : reply.generateCsrf(),
    demo: request.server.config.demo,
    path: request.url
  }
}

export async function renderError (request: FastifyRequest, reply: FastifyReply, status: number, message: string): Promise<unknown> {
  reply.code(status)
  if (wantsJson(request)) return reply.send({ statusCode: status, error: message })
  ensurePageLocals(request, reply)
  return reply.viewAsync('pages/error.eta', { status, title: titles[status] ?? (status >= 500 ? 'Something went wrong' : 'That did not work'), message })
}

/**
 * The multipart parser (busboy) reports a cut-off or garbled body with plain Errors that carry no
 * status: the client's fault, not ours, so they are a 400 rather than a 500.
 */
function malformedMultipart (error: FastifyError): boolean {
  return error.statusCode === undefined && error.code === undefined &&
    /^(Multipart: Boundary not found|Unexpected end of multipart data|\w+ terminated early due to unexpected end of multipart data)$/.test(error.message)
}
const MALFORMED_UPLOAD = 'The upload was cut off or is not a well-formed form. Nothing was stored; please send the form again.'

export default fp(async function errors (app) {
  app.setErrorHandler(async function (error: FastifyError, request, reply) {
    if (malformedMultipart(error)) {
      request.log.info({ err: { message: error.message }, statusCode: 400 }, 'request rejected')
      return await renderError(request, reply, 400, MALFORMED_UPLOAD)
    }
    const statusCode = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500
    if (statusCode >= 500) {
      request.log.error({ err: error }, 'request failed')
    } else {
      request.log.info({ err: { code: error.code, message: error.message }, statusCode }, 'request rejected')
    }
    let message: string
    // HttpError and DomainError messages are written for the person (a 502 says nothing was charged).
    if (statusCode >= 500 && !(error instanceof HttpError) && !(error instanceof DomainError)) {
      // Never show a 5xx's own message: it may name files, queries or secrets.
      message = 'Something went wrong on our side. Nothing was lost; please try again in a moment.'
    } else if (error.validation !== undefined) {
      message = `The request was not valid: ${error.message}.`
    } else {
      message = friendly[error.code] ?? bare[error.message] ?? error.message
    }
    return await renderError(request, reply, statusCode, message)
  })

  app.setNotFoundHandler(async function (request, reply) {
    return await renderError(request, reply, 404, 'There is nothing at this address. It may have been removed, or the link may be mistyped.')
  })
}, { name: 'errors' })
