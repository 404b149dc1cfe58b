/**
 * What a service says went wrong, without HTTP in it: src/http/errors.ts maps each kind to a
 * status, in one place. The message is written for the person who will read it.
 */
export type DomainErrorKind = 'invalid' | 'conflict' | 'not_found' | 'forbidden' | 'upstream'

export class DomainError extends Error {
  constructor (readonly kind: DomainErrorKind, message: string) {
    super(message)
    this.name = 'DomainError'
  }
}
