// Mollie's error bodies: `{ status, title, detail, field?, _links: { documentation } }`, served as
// application/hal+json. The official client turns them into its ApiError (message = detail,
// statusCode, field), so the app sees exactly what api.mollie.com would make it see.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'

export interface MollieErrorBody {
  status: number
  title: string
  detail: string
  field?: string
  _links: { documentation: { href: string, type: 'text/html' } }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  500: 'Internal Server Error'
}

export const ERRORS_DOCUMENTATION = 'https://docs.mollie.com/overview/handling-errors'
export const AUTHENTICATION_DOCUMENTATION = 'https://docs.mollie.com/overview/authentication'

/** An error answered in Mollie's shape; `field` names the offending parameter (`amount.value`). */
export class MollieError extends Error {
  constructor (
    readonly status: number,
    readonly detail: string,
    readonly field?: string,
    readonly documentation = ERRORS_DOCUMENTATION
  ) {
    super(detail)
  }

  get body (): MollieErrorBody {
    return {
      status: this.status,
      title: TITLES[this.status] ?? 'Error',
      detail: this.detail,
      ...(this.field === undefined ? {} : { field: this.field }),
      _links: { documentation: { href: this.documentation, type: 'text/html' } }
    }
  }
}

/** 422 with the field, the answer to nearly every bad parameter. */
export const unprocessable = (detail: string, field?: string): MollieError => new MollieError(422, detail, field)

export function sendHal (reply: FastifyReply, status: number, body: string): FastifyReply {
  // A Buffer, so Fastify adds no charset: Mollie answers plain `application/hal+json`.
  return reply.code(status).type('application/hal+json').send(Buffer.from(body))
}

/** Errors in Mollie's shape: ours as thrown, Fastify's (body too large) translated, anything else a 500. */
export function mollieErrorHandler (log: (msg: string) => void) {
  return async (error: FastifyError | MollieError, _request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    if (error instanceof MollieError) return sendHal(reply, error.status, JSON.stringify(error.body))
    if (error.statusCode === 413) return sendHal(reply, 413, JSON.stringify(new MollieError(413, 'The request body is too large.').body))
    log(`mollie-emulator: internal error: ${error.stack ?? error.message}`)
    return sendHal(reply, 500, JSON.stringify(new MollieError(500, 'Internal emulator error.').body))
  }
}
