import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { openDatabase } from '../../src/db/database.js'
import health, { HEALTH_TIMEOUT_MS } from '../../src/http/health.js'

/** The health route alone on a bare Fastify, over a real SQLite handle whose runner `first` is replaced. */
async function app (t: Test, database: 'up' | 'hangs' | 'fails', store: 'up' | 'down' | 'hangs' = 'up'): Promise<ReturnType<typeof Fastify>> {
  const handle = openDatabase(':memory:')
  const real = handle.runner
  const runner = {
    ...real,
    first: database === 'up' ? real.first : database === 'hangs' ? async () => await new Promise<never>(() => {}) : async () => { throw new Error('connection refused') }
  }
  const fastify = Fastify()
  fastify.decorate('db', handle.db)
  fastify.decorate('database', { ...handle, runner })
  fastify.decorate('files', {
    missing: new Set<string>(),
    location: 's3://bucket/prefix',
    check: store === 'up' ? async () => true : store === 'down' ? async () => false : async () => await new Promise<boolean>(() => {})
  } as never)
  await fastify.register(health)
  t.teardown(async () => { await fastify.close(); await handle.close() })
  return fastify
}

t.test('/healthz answers 200 when the database and the store answer', async (t) => {
  const response = await (await app(t, 'up')).inject('/healthz')
  t.equal(response.statusCode, 200)
  t.same(response.json(), { status: 'ok' })
})

t.test('/healthz answers 503 with the reason when the database fails, and within its timeout when it hangs', async (t) => {
  const failing = await (await app(t, 'fails')).inject('/healthz')
  t.equal(failing.statusCode, 503)
  t.same(failing.json(), { status: 'unavailable', database: 'unavailable' })

  const started = Date.now()
  const hanging = await (await app(t, 'hangs')).inject('/healthz')
  const took = Date.now() - started
  t.equal(hanging.statusCode, 503)
  t.same(hanging.json(), { status: 'unavailable', database: 'unavailable' })
  t.ok(took >= HEALTH_TIMEOUT_MS - 50 && took < HEALTH_TIMEOUT_MS + 1_500, `answered after ${took} ms (timeout ${HEALTH_TIMEOUT_MS} ms)`)
})

t.test('/healthz answers 503 naming the store when the object store says it is down or hangs', async (t) => {
  for (const store of ['down', 'hangs'] as const) {
    const response = await (await app(t, 'up', store)).inject('/healthz')
    t.equal(response.statusCode, 503, store)
    t.same(response.json(), { status: 'degraded', missingFiles: 0, storage: 'unavailable' }, store)
  }
})
