import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { DomainError, type DomainErrorKind } from '../lib/errors.js'

/**
 * The one place a domain error's kind becomes an HTTP status: the error handler below, and the
 * few routes that answer a DomainError with a page of their own.
 */
const STATUS_OF_KIND: Record<DomainErrorKind, number> = {
  invalid: 400,
  conflict: 409,
  not_found: 404,
  forbidden: 403,
  upstream: 502
}
export const statusOfKind = (kind: DomainErrorKind): number => STATUS_OF_KIND[kind]

/**
 * A 4xx whose message is written for the person who will read it: the http layer's own refusals
 * (guards, routes). Services throw a DomainError instead.
 */
export class HttpError extends Error {
  constructor (readonly statusCode: number, message: string) {
    super(message)
    this.name = 'HttpError'
  }
}

/** The sentences for what is not there, one place for all of them. */
export const NOT_FOUND = {
  page: 'There is nothing at this address. It may have been removed, or the link may be mistyped.',
  item: 'There is no item at this address. It may have been removed.'
} as const

/** What a bundle's download, sample or page image answers: it has no file of its own. */
export const bundleHasNoFile = (title: string): string =>
  `"${title}" is a bundle: it has no file of its own. Each of its PDFs has its own page (with its sample), and once bought they are all in your library.`

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
  'Not Found': NOT_FOUND.page
}

const titles: Record<number, string> = {
  400: 'That did not work',
  401: 'Please sign in',
  403: 'Not allowed',
  404: 'Page not found',
  408: 'Took too long',
  409: 'Already taken',
  413: 'Too large',
  416: 'Range not satisfiable',
  429: 'Slow down',
  // 502 answers both a payment provider and a sign-in provider that did not answer.
  502: 'Provider unavailable',
  503: 'Temporarily unavailable'
}

export const titleOf = (status: number): string => titles[status] ?? (status >= 500 ? 'Something went wrong' : 'That did not work')

/**
 * The multipart parser (busboy) reports a cut-off or garbled body with plain Errors that carry no
 * status: the client's fault, not ours, so they are a 400 rather than a 500.
 */
function malformedMultipart (error: FastifyError): boolean {
  return error.statusCode === undefined && error.code === undefined &&
    /^(Multipart: Boundary not found|Unexpected end of multipart data|\w+ terminated early due to unexpected end of multipart data)$/.test(error.message)
}
const MALFORMED_UPLOAD = 'The upload was cut off or is not a well-formed form. Nothing was stored; please send the form again.'

/** A DomainError's status by its kind; any other error's own 4xx or 5xx, else 500. */
function statusOf (error: FastifyError): number {
  if (error instanceof DomainError) return statusOfKind(error.kind)
  return error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500
}

/** The status and the sentence for the person, logged once with the request's context. */
function describe (error: FastifyError, request: FastifyRequest): { status: number, message: string } {
  if (malformedMultipart(error)) {
    request.log.info({ err: { message: error.message }, statusCode: 400 }, 'request rejected')
    return { status: 400, message: MALFORMED_UPLOAD }
  }
  const status = statusOf(error)
  if (status >= 500) request.log.error({ err: error, statusCode: status }, 'request failed')
  else request.log.info({ err: { code: error.code, message: error.message }, statusCode: status }, 'request rejected')
  // HttpError and DomainError messages are written for the person (a 502 says nothing was charged).
  if (status >= 500 && !(error instanceof HttpError) && !(error instanceof DomainError)) {
    // Never show a 5xx's own message: it may name files, queries or secrets.
    return { status, message: 'Something went wrong on our side. Nothing was lost; please try again in a moment.' }
  }
  if (error.validation !== undefined) return { status, message: `The request was not valid: ${error.message}.` }
  return { status, message: friendly[error.code] ?? bare[error.message] ?? error.message }
}

/** A client that asked for JSON (Accept) gets JSON; a person gets a page. */
function wantsJson (request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? ''
  return accept.includes('application/json') && !accept.includes('text/html')
}

async function sendJson (reply: FastifyReply, status: number, message: string): Promise<FastifyReply> {
  return await reply.code(status).send({ statusCode: status, error: message })
}

/** The site's errors: a page with the right status and a sentence a person can act on. */
export const htmlErrors = fp(async function htmlErrors (app) {
  async function answer (request: FastifyRequest, reply: FastifyReply, status: number, message: string): Promise<FastifyReply> {
    if (wantsJson(request)) return await sendJson(reply, status, message)
    return await reply.page('pages/error.eta', { title: titleOf(status), status, message }, { status })
  }
  app.setErrorHandler(async function (error: FastifyError, request, reply) {
    const { status, message } = describe(error, request)
    return await answer(request, reply, status, message)
  })
  app.setNotFoundHandler(async function (request, reply) {
    return await answer(request, reply, 404, NOT_FOUND.page)
  })
}, { name: 'html-errors', dependencies: ['page'] })

/** Machine endpoints' errors: JSON, never a page. */
export const jsonErrors = fp(async function jsonErrors (app) {
  app.setErrorHandler(async function (error: FastifyError, request, reply) {
    const { status, message } = describe(error, request)
    return await sendJson(reply, status, message)
  })
}, { name: 'json-errors' })
