// backends: sqlite, postgres-s3
import { randomUUID } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { buildApp, type BuildOptions } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import type { Content } from '../../src/db/types.js'
import type { SweepResult } from '../../src/storage/store.js'
import { ageStored, readStored, storeNames, writeStored } from '../helpers/backend.js'
import { ADMIN_EMAIL, build, type Harness, testEnv } from '../helpers/build.js'
import { pdfBytes } from '../helpers/fixtures.js'
import { edit } from '../helpers/items.js'
import { sleep } from '../helpers/net.js'

const MINUTE = 60_000

/** A store with one uploaded item (its PDF and cover referenced by its row). */
async function storeWithItem (t: Test): Promise<{ h: Harness, row: Content }> {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  t.equal((await h.upload(admin)).statusCode, 303)
  return { h, row: await h.app.db.selectFrom('content').selectAll().executeTakeFirstOrThrow() }
}

/** Another instance on the same database and store, closed at the test's end. */
async function another (t: Test, h: Harness, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = await buildApp(loadConfig(testEnv(h.dir, h.stripe.url, h.idp.url)), options)
  await app.ready()
  t.teardown(async () => { await app.close() })
  return app
}

/** What is in the store's quarantine, by name. */
async function quarantined (h: Harness): Promise<string[]> {
  const storage = h.config.storage
  if (storage.kind === 'folder') return (await readdir(join(storage.dir, '.quarantine')).catch(() => [])).sort()
  return (await storeNames(storage)).filter((n) => n.startsWith('.quarantine/')).map((n) => n.slice('.quarantine/'.length)).sort()
}

/** A promise and the function that settles it. */
function gate (): { promise: Promise<void>, open: () => void } {
  let open = (): void => {}
  const promise = new Promise<void>((resolve) => { open = resolve })
  return { promise, open }
}

t.test('a leftover too young to judge at start-up is left by the start-up sweep and quarantined by the periodic sweep, without a restart', async (t) => {
  const { h, row } = await storeWithItem(t)
  const storage = h.config.storage
  // Cut off by a crash a few seconds before this start.
  const orphan = `${randomUUID()}.pdf`
  await writeStored(storage, orphan, pdfBytes('orphan'))
  const app = await another(t, h, { sweepIntervalMs: 100 })
  t.same(await quarantined(h), [], 'the start-up sweep left it: it could be an upload about to commit')
  t.ok((await storeNames(storage)).includes(orphan))

  // A minute later it is old enough to be judged: the next periodic sweep moves it.
  await ageStored(storage, orphan, 5 * MINUTE)
  for (let i = 0; i < 100 && !(await quarantined(h)).includes(orphan); i++) await sleep(50)
  t.same(await quarantined(h), [orphan], 'quarantined by the periodic sweep')
  t.same(await readStored(storage, `.quarantine/${orphan}`), pdfBytes('orphan'), 'moved, not deleted')
  t.notOk((await storeNames(storage)).includes(orphan), 'gone from its place')
  t.ok((await storeNames(storage)).includes(row.file_key), 'the item\'s files stay')
  t.equal((await app.inject('/healthz')).statusCode, 200)
})

t.test('two instances on one database sweep one at a time: while one sweeps the other skips its turn; a crashed holder\'s lease runs out', async (t) => {
  const { h } = await storeWithItem(t)
  const storage = h.config.storage
  const a = h.app
  const b = await another(t, h)
  const orphans = [`${randomUUID()}.pdf`, `${randomUUID()}.png`]
  for (const name of orphans) {
    await writeStored(storage, name, pdfBytes(name))
    await ageStored(storage, name, 5 * MINUTE)
  }

  // Instance a is in the middle of its sweep.
  const entered = gate()
  const release = gate()
  const sweep = a.files.sweep.bind(a.files)
  a.files.sweep = async (referenced) => {
    entered.open()
    await release.promise
    return await sweep(referenced)
  }
  const first = a.sweep.run()
  await entered.promise
  t.equal(await b.sweep.run(), 'busy', 'b does not sweep while a does')
  t.equal(await b.sweep.run(), 'busy', 'nor on its next turn, while a still sweeps')
  t.same(await quarantined(h), [], 'nothing moved yet')
  release.open()
  const done = await first as SweepResult
  t.same(done.quarantined.sort(), [...orphans].sort(), 'a moved the leftovers')
  t.same(await quarantined(h), [...orphans].sort())
  t.same(await b.sweep.run(), { quarantined: [], left: [] }, 'once a is done, b sweeps (and finds nothing left)')

  // An instance that died holding the lease: it runs out, and then another sweeps.
  const db = a.database.db
  await db.insertInto('leases').values({ name: 'sweep', holder: 'gone/1.dead', claimed_until: new Date(Date.now() + MINUTE).toISOString() }).execute()
  t.equal(await b.sweep.run(), 'busy', 'a lease still running is respected')
  await db.updateTable('leases').set({ claimed_until: new Date(Date.now() - 1000).toISOString() }).where('name', '=', 'sweep').execute()
  t.not(await b.sweep.run(), 'busy', 'a lease run out is taken over')
  t.same(await db.selectFrom('leases').selectAll().execute(), [], 'and given back after the sweep')
})

t.test('a sweep never moves a file a row refers to, however old, in any version', async (t) => {
  const { h, row } = await storeWithItem(t)
  const storage = h.config.storage
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  // A second version: the first one's file is still referenced by content_versions.
  const updated = await edit(h, admin, row.slug, { title: row.title, file: pdfBytes('Second edition'), changelog: 'New' })
  t.equal(updated.statusCode, 303, 'a new version uploaded')
  const latest = await h.app.db.selectFrom('content').selectAll().executeTakeFirstOrThrow()
  t.not(latest.file_key, row.file_key)
  const keys = [row.file_key, row.preview_key, latest.file_key, latest.preview_key]
  for (const key of new Set(keys)) await ageStored(storage, key, 5 * MINUTE)

  const found = await h.app.sweep.run()
  t.same(found, { quarantined: [], left: [] }, 'nothing moved, nothing unaccounted for')
  t.same(await quarantined(h), [])
  const names = await storeNames(storage)
  for (const key of keys) t.ok(names.includes(key), `${key} stays in place`)
})
