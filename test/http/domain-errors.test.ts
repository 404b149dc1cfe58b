import Fastify from 'fastify'
import t from 'tap'
import { HttpError, jsonErrors, statusOfKind } from '../../src/http/errors.js'
import { DomainError, type DomainErrorKind } from '../../src/lib/errors.js'

const KINDS: Record<DomainErrorKind, number> = { invalid: 400, conflict: 409, not_found: 404, forbidden: 403, upstream: 502 }

t.test('a DomainError carries a kind and a message, and no HTTP status', async (t) => {
  const error = new DomainError('conflict', 'That title is taken.')
  t.equal(error.kind, 'conflict')
  t.equal(error.message, 'That title is taken.')
  t.notOk('statusCode' in error, 'no statusCode of its own')
})

t.test('the error handler answers each kind of DomainError with its status and its message, an HttpError with its own status', async (t) => {
  const app = Fastify()
  await app.register(jsonErrors)
  app.get<{ Params: { kind: DomainErrorKind } }>('/domain/:kind', async (request) => { throw new DomainError(request.params.kind, `a ${request.params.kind} error`) })
  app.get('/http', async () => { throw new HttpError(429, 'Slow down.') })
  t.teardown(async () => { await app.close() })
  for (const [kind, status] of Object.entries(KINDS) as Array<[DomainErrorKind, number]>) {
    t.equal(statusOfKind(kind), status, `${kind} is ${status}`)
    const response = await app.inject(`/domain/${kind}`)
    t.equal(response.statusCode, status, `a thrown ${kind} error is answered ${status}`)
    t.same(response.json(), { statusCode: status, error: `a ${kind} error` }, 'with its message, written for the person (a 502 too)')
  }
  const http = await app.inject('/http')
  t.equal(http.statusCode, 429)
  t.same(http.json(), { statusCode: 429, error: 'Slow down.' })
})
