/**
 * What a service says went wrong, without HTTP in it: the error handler maps each kind to a
 * status. The message is written for the person who will read it.
 */
export type DomainErrorKind = 'invalid' | 'conflict' | 'not_found' | 'forbidden' | 'upstream'

export const statusOfKind: Record<DomainErrorKind, number> = {
  invalid: 400,
  conflict: 409,
  not_found: 404,
  forbidden: 403,
  upstream: 502
}

export class DomainError extends Error {
  readonly statusCode: number
  constructor (readonly kind: DomainErrorKind, message: string) {
    super(message)
    this.name = 'DomainError'
    this.statusCode = statusOfKind[kind]
  }
}
