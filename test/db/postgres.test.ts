import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { CompiledQuery, type Kysely, sql } from 'kysely'
import t from 'tap'
import { migrations } from '../../migrations/index.js'
import { migrateToLatest, openDatabase } from '../../src/db/database.js'
import { openPostgres, type PostgresHandle } from '../../src/db/postgres.js'
import type { Runner } from '../../src/db/runner.js'
import type { Database } from '../../src/db/types.js'
import { changeStamp } from '../../src/db/change-stamp.js'
import { postgresSearch } from '../../src/modules/catalog/search-sql.js'
import { sleep } from '../helpers/net.js'
import { startPostgres } from '../helpers/postgres.js'

const cluster = await startPostgres(t)
const skip = cluster.skip
const MIGRATIONS = Object.keys(migrations).length

/** A fresh PostgreSQL database, closed in teardown. */
async function open (t: { teardown(fn: () => unknown): void }, options: { migrated?: boolean, url?: string } = {}): Promise<PostgresHandle & { url: string }> {
  const url = options.url ?? await cluster.build()
  const handle = openPostgres(url)
  t.teardown(handle.close)
  if (options.migrated !== false) await migrateToLatest(handle.db)
  return { ...handle, url }
}

/** The SQLite schema as sqlite_master holds it: the DDL text of every table, index and trigger. */
async function sqliteSchema (): Promise<{ dump: string, tables: Map<string, string[]> }> {
  const database = openDatabase(':memory:')
  try {
    await migrateToLatest(database.db)
    const rows = database.sqlite!.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'kysely_%' ORDER BY type, name").all() as Array<{ type: string, name: string, tbl_name: string, sql: string | null }>
    const tables = new Map<string, string[]>()
    for (const row of rows) {
      if (row.type !== 'table' || row.name.startsWith('content_fts') || row.name.startsWith('sqlite_')) continue
      const columns = database.sqlite!.prepare(`SELECT name FROM pragma_table_info('${row.name}') ORDER BY cid`).all() as Array<{ name: string }>
      tables.set(row.name, columns.map((column) => column.name))
    }
    return { dump: rows.map((r) => `-- ${r.type} ${r.name} on ${r.tbl_name}\n${r.sql ?? ''};`).join('\n') + '\n', tables }
  } finally {
    await database.close()
  }
}

async function user (runner: Runner, db: Kysely<Database>, subject = 'u1'): Promise<number> {
  return (await runner.first(db.insertInto('users').values({ provider: 'test', subject, email: `${subject}@example.com`, email_verified: 1, is_admin: 0 }).returning('id')))!.id
}

async function item (runner: Runner, db: Kysely<Database>, fields: { slug: string, title?: string, description?: string, price_cents?: number, published?: number, created_at?: string }): Promise<number> {
  return (await runner.first(db.insertInto('content').values({
    title: fields.slug,
    description: '',
    price_cents: 500,
    currency: 'usd',
    file_key: `${fields.slug}.pdf`,
    file_name: `${fields.slug}.pdf`,
    file_size: 1000,
    sha256: '0'.repeat(64),
    preview_key: `${fields.slug}.png`,
    ...fields
  }).returning('id')))!.id
}

/** A promise and the function that settles it: to hold a transaction open at a chosen point. */
function gate (): { promise: Promise<void>, open: () => void } {
  let open = (): void => {}
  const promise = new Promise<void>((resolve) => { open = resolve })
  return { promise, open }
}

t.test('the SQLite schema is exactly what the migrations wrote before they learnt PostgreSQL', async (t) => {
  const { dump } = await sqliteSchema()
  t.equal(dump, readFileSync(new URL('fixtures/sqlite-schema.sql', import.meta.url), 'utf8'), 'sqlite_master matches the snapshot taken before the dialect branches')
})

t.test('the migrations run on an empty PostgreSQL database, then again as a no-op', { skip }, async (t) => {
  const { db } = await open(t, { migrated: false })
  const first = await migrateToLatest(db)
  t.equal(first.results?.length, MIGRATIONS, 'every migration applied')
  t.ok(first.results?.every((result) => result.status === 'Success'))
  const second = await migrateToLatest(db)
  t.same(second.results, [], 'nothing left to apply')

  // The same tables with the same columns in the same order as on SQLite (FTS5's aside).
  const { tables } = await sqliteSchema()
  const columns = await sql<{ table_name: string, column_name: string }>`
    SELECT table_name, column_name FROM information_schema.columns
    WHERE table_schema = 'public' AND table_name NOT LIKE 'kysely_%'
    ORDER BY table_name, ordinal_position`.execute(db)
  const pgTables = new Map<string, string[]>()
  for (const row of columns.rows) pgTables.set(row.table_name, [...pgTables.get(row.table_name) ?? [], row.column_name])
  t.same(Object.fromEntries([...pgTables].sort()), Object.fromEntries([...tables].sort()), 'same tables and columns on both engines')
})

t.test('two instances starting together migrate once: the migrator takes a lock on PostgreSQL', { skip }, async (t) => {
  const url = await cluster.build()
  const one = await open(t, { url, migrated: false })
  const two = await open(t, { url, migrated: false })
  const results = await Promise.all([migrateToLatest(one.db), migrateToLatest(two.db)])
  t.same(results.map((result) => result.results?.length).sort(), [0, MIGRATIONS], 'one applied every migration, the other found nothing to do')
  const applied = await sql<{ count: number }>`SELECT count(*) AS count FROM kysely_migration`.execute(one.db)
  t.equal(applied.rows[0]!.count, MIGRATIONS, 'each migration recorded once')
})

t.test('npm run migrate migrates a PostgreSQL DATABASE_URL and never prints its password', { skip }, async (t) => {
  const url = (await cluster.build()).replace('postgres@', 'postgres:hush-hush@')
  const migrate = async (): Promise<string> => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import=tsx', 'scripts/migrate.ts'], {
      env: { PATH: process.env.PATH, DATABASE_URL: url, SESSION_SECRET: 's'.repeat(32) }
    })
    return stdout + stderr
  }
  const first = await migrate()
  t.match(first, /postgres:\/\/postgres@127\.0\.0\.1:\d+\/test_\d+: 0001-initial Success/)
  t.match(first, /0012-payments Success/)
  t.match(await migrate(), /already up to date/)
  t.notMatch(first, /hush-hush/, 'the password stays out of the output')
})

t.test('the runner on PostgreSQL', { skip }, async (t) => {
  const { db, runner } = await open(t)
  const event = (id: string) => db.insertInto('payment_events').values({ id, type: 'test' })
  const events = async (): Promise<string[]> => (await runner.all(db.selectFrom('payment_events').select('id').orderBy('id'))).map((row) => row.id)
  t.beforeEach(async () => { await runner.run(db.deleteFrom('payment_events')) })

  t.equal(runner.dialect, 'postgres')

  t.test('a transaction commits when fn resolves and rolls back when it throws', async (t) => {
    t.equal(await runner.transaction(async () => { await runner.run(event('evt_a')); return 'done' }), 'done')
    await t.rejects(runner.transaction(async () => {
      await runner.run(event('evt_b'))
      throw new Error('the part after the write fails')
    }), /the part after the write fails/)
    t.same(await events(), ['evt_a'], 'the committed write stays, the rolled back one is gone')
  })

  t.test('a nested transaction is a savepoint: a failing one undoes only itself', async (t) => {
    await runner.transaction(async () => {
      await runner.run(event('evt_1'))
      await t.rejects(runner.transaction(async () => {
        await runner.run(event('evt_2'))
        throw new Error('one event of the group fails')
      }))
      // A failed statement inside a savepoint: PostgreSQL goes on after the rollback to it.
      await t.rejects(runner.transaction(async () => { await runner.run(event('evt_1')) }), /duplicate key/)
      await runner.transaction(async () => {
        await runner.run(event('evt_3'))
        await runner.transaction(async () => { await runner.run(event('evt_4')) })
      })
      // Savepoints started side by side from one context take their turns on the connection.
      await Promise.all([
        runner.transaction(async () => { await runner.run(event('evt_5')) }),
        t.rejects(runner.transaction(async () => { await runner.run(event('evt_6')); throw new Error('no') })),
        runner.transaction(async () => { await runner.run(event('evt_7')) })
      ])
    })
    t.same(await events(), ['evt_1', 'evt_3', 'evt_4', 'evt_5', 'evt_7'])
  })

  t.test('parallel parts share the connection, pipelined: each gets its own answer, a failing one fails the transaction\'s rest', async (t) => {
    const settled = await runner.transaction(async () => await runner.parallel(['evt_p1', 'evt_p2', 'evt_p3'].map((id) => async () => {
      await runner.run(event(id))
      return (await runner.all(db.selectFrom('payment_events').select('id').where('id', '=', id))).map((row) => row.id)
    })))
    t.same(settled, [1, 2, 3].map((n) => ({ status: 'fulfilled', value: [`evt_p${n}`] })))
    t.same(await events(), ['evt_p1', 'evt_p2', 'evt_p3'])
    // A duplicate key in one part: PostgreSQL refuses the rest of the transaction, which rolls back.
    await t.rejects(runner.transaction(async () => {
      const results = await runner.parallel(['evt_p4', 'evt_p1', 'evt_p5'].map((id) => async () => { await runner.run(event(id)) }))
      t.same(results.map((result) => result.status), ['fulfilled', 'rejected', 'rejected'], 'the ones after the failure are refused, none hangs')
      throw (results[1] as PromiseRejectedResult).reason
    }), /duplicate key/)
    t.same(await events(), ['evt_p1', 'evt_p2', 'evt_p3'], 'nothing of the failed transaction stays')
    t.equal(await runner.transaction(async () => { await runner.run(event('evt_p6')); return 'the connection serves again' }), 'the connection serves again')
  })

  t.test('inside a transaction queries see its writes; outside, only what is committed', async (t) => {
    const written = gate()
    const hold = gate()
    let inside: string[] = []
    let throughDb: string[] = []
    const transaction = runner.transaction(async () => {
      await runner.run(event('evt_x'))
      inside = await events()
      // A query run with Kysely's own execute() in the same context uses the same connection.
      throughDb = (await db.selectFrom('payment_events').select('id').execute()).map((row) => row.id)
      written.open()
      await hold.promise
    })
    await written.promise
    t.same(await events(), [], 'another context does not see the uncommitted row')
    hold.open()
    await transaction
    t.same(inside, ['evt_x'], 'the transaction sees its own write')
    t.same(throughDb, ['evt_x'], 'so does db.execute() inside it')
    t.same(await events(), ['evt_x'], 'committed: everyone sees it')
  })

  t.test('work left running after its transaction ended runs outside it, never in the next owner of the connection', async (t) => {
    const later = gate()
    let detached: Promise<unknown> = Promise.resolve()
    await runner.transaction(async () => {
      await runner.run(event('evt_in'))
      detached = (async () => {
        await later.promise
        await runner.run(event('evt_later'))
        await runner.transaction(async () => { await runner.run(event('evt_later_tx')) })
      })()
    })
    // The next transaction takes the connection just released (the pool hands out the last one back).
    const started = gate()
    const hold = gate()
    const other = runner.transaction(async () => {
      await runner.run(event('evt_other'))
      started.open()
      await hold.promise
      throw new Error('this one rolls back')
    })
    await started.promise
    later.open()
    await detached
    hold.open()
    await t.rejects(other, /this one rolls back/)
    t.same(await events(), ['evt_in', 'evt_later', 'evt_later_tx'], 'the late writes were not part of the rolled back transaction')
  })

  t.test("Kysely's own db.transaction() inside runner.transaction() is refused (it would commit the outer one)", async (t) => {
    await t.rejects(runner.transaction(async () => {
      await db.transaction().execute(async (trx) => { await trx.insertInto('payment_events').values({ id: 'evt_k', type: 'x' }).execute() })
    }), /runner\.transaction\(\)/)
    t.same(await events(), [])
  })

  t.test('concurrent conditional updates: exactly one moves the order from pending to paid', async (t) => {
    const buyer = await user(runner, db, 'buyer-update')
    const content = await item(runner, db, { slug: 'race-update' })
    const order = (id: string) => db.insertInto('orders').values({ id, user_id: buyer, content_id: content, amount_cents: 500, currency: 'usd' })
    const pay = (id: string) => db.updateTable('orders').set({ status: 'paid' }).where('id', '=', id).where('status', '=', 'pending')

    // The second waits on the first's row lock, then sees its commit and changes nothing.
    await runner.run(order('order-1'))
    const updated = gate()
    const hold = gate()
    const first = runner.transaction(async () => {
      const { changes } = await runner.run(pay('order-1'))
      updated.open()
      await hold.promise
      return changes
    })
    await updated.promise
    const second = runner.transaction(async () => (await runner.run(pay('order-1'))).changes)
    t.equal(await Promise.race([second.then(() => 'done'), sleep(200).then(() => 'waiting')]), 'waiting', 'the second waits for the first to commit')
    hold.open()
    t.same(await Promise.all([first, second]), [1, 0])

    // Many at once, as a storm of webhooks and redirects would.
    await runner.run(order('order-2'))
    const changes = await Promise.all(Array.from({ length: 8 }, async () => await runner.transaction(async () => (await runner.run(pay('order-2'))).changes)))
    t.equal(changes.reduce((a, b) => a + b, 0), 1, 'exactly one of eight changed a row')
  })

  t.test('INSERT ... ON CONFLICT DO NOTHING from concurrent transactions: exactly one inserts', async (t) => {
    const record = (id: string) => event(id).onConflict((oc) => oc.column('id').doNothing())
    const inserted = gate()
    const hold = gate()
    const first = runner.transaction(async () => {
      const { changes } = await runner.run(record('evt_once'))
      inserted.open()
      await hold.promise
      return changes
    })
    await inserted.promise
    const second = runner.transaction(async () => (await runner.run(record('evt_once'))).changes)
    t.equal(await Promise.race([second.then(() => 'done'), sleep(200).then(() => 'waiting')]), 'waiting', 'the second waits on the unique index')
    hold.open()
    t.same(await Promise.all([first, second]), [1, 0])

    const changes = await Promise.all(Array.from({ length: 8 }, async () => await runner.transaction(async () => (await runner.run(record('evt_many'))).changes)))
    t.equal(changes.reduce((a, b) => a + b, 0), 1, 'exactly one of eight inserted')
    t.same(await events(), ['evt_many', 'evt_once'])
  })

  t.test('values come back as better-sqlite3 returns them', async (t) => {
    const id = await item(runner, db, { slug: 'types', title: 'Types' })
    await runner.run(db.updateTable('content').set({ file_size: 5 * 1024 ** 3 }).where('id', '=', id))
    const row = (await runner.first(db.selectFrom('content').select(['id', 'file_size', 'created_at', 'published']).where('id', '=', id)))!
    t.equal(typeof row.id, 'number', 'ids are numbers')
    t.equal(row.file_size, 5 * 1024 ** 3, 'a 5 GiB file size is a number')
    t.equal(row.published, 1, 'integer booleans stay 0/1')
    t.match(row.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'times are ISO text in UTC with milliseconds, as SQLite writes them')
    t.ok(Math.abs(Date.parse(row.created_at) - Date.now()) < 60_000, 'and say now')
    const counts = (await runner.first(db.selectFrom('content').where('id', '=', id).select((eb) => [
      eb.fn.countAll<number>().as('count'),
      eb.fn.sum<number>('file_size').as('bytes'),
      sql<number>`exists (select 1 from content)`.as('any')
    ])))!
    t.same(counts, { count: 1, bytes: 5 * 1024 ** 3, any: 1 }, 'counts and sums are numbers, booleans 0/1')
    t.same(await runner.run(db.updateTable('content').set({ published: 1 }).where('id', 'in', [id, -1])), { changes: 1 }, 'run answers the rows changed')
    t.same(await runner.run(db.selectFrom('content').select('id')), { changes: 0 }, 'a read changes nothing')
  })
})

t.test('search on PostgreSQL: every word, title or description, any case and accent', { skip }, async (t) => {
  const { db, runner } = await open(t)
  const search = async (input: string, sort: 'new' | 'price' | 'title' | null = null): Promise<string[]> => {
    const queries = postgresSearch(db, input, sort)
    if (queries === undefined) return []
    const { total } = (await runner.first(queries.count))!
    const items = await runner.all(queries.page(24, 0))
    t.equal(items.length, total, `the count of "${input}" agrees with its page`)
    return items.map((row) => row.slug)
  }
  await item(runner, db, { slug: 'cafe', title: 'Café Recipes', description: 'Coffee and cake.', price_cents: 900, created_at: '2025-01-03T00:00:00.000Z' })
  await item(runner, db, { slug: 'tea', title: 'tea time', description: 'Cake, scones and a recipe for café au lait.', price_cents: 300, created_at: '2025-01-02T00:00:00.000Z' })
  await item(runner, db, { slug: 'hidden', title: 'Cake secrets', description: 'unpublished', published: 0 })
  await item(runner, db, { slug: 'bread', title: 'Bread', description: 'Flour-water-salt loaves.', price_cents: 500, created_at: '2025-01-01T00:00:00.000Z' })

  t.same(await search('cafe'), ['cafe', 'tea'], 'accents do not matter; a word in the title outranks one in the description')
  t.same(await search('CAKE'), await search('cake'), 'case does not matter')
  t.same(await search('cake coffee'), ['cafe'], 'every word must be there')
  t.same(await search('cake', 'price'), ['tea', 'cafe'])
  t.same(await search('cake', 'title'), ['cafe', 'tea'], 'title order ignores case (COLLATE NOCASE works on PostgreSQL)')
  t.same(await search('cake', 'new'), ['cafe', 'tea'])
  t.same(await search('water-salt'), ['bread'], 'a hyphenated word is a phrase')
  t.same(await search('secrets'), [], 'unpublished items are never found')
  for (const hostile of ['"', '*', 'NEAR(cake', 'title:cake', 'cake OR bread', '-cake', "cake'); drop table content; --", '!!! & | <->', 'a:*']) {
    await t.resolves(search(hostile), `"${hostile}" is searched for as text`)
  }
  t.same(await search('cake OR bread'), [], 'OR is a word, not an operator')
  t.equal(postgresSearch(db, '  ... ---  ', null), undefined, 'nothing to search for')

  // The query uses the GIN index (with table scans discouraged, as on a big catalogue).
  const page = postgresSearch(db, 'cake', null)!.page(24, 0).compile()
  const plan = await runner.transaction(async () => {
    await runner.run({ compile: () => CompiledQuery.raw('SET LOCAL enable_seqscan = off') })
    return await runner.all<{ 'QUERY PLAN': string }>({ compile: () => CompiledQuery.raw(`EXPLAIN ${page.sql}`, [...page.parameters]) as CompiledQuery<{ 'QUERY PLAN': string }> })
  })
  t.match(plan.map((row) => row['QUERY PLAN']).join('\n'), /content_search/, 'the search reads the content_search index')
})

t.test('the catalogue stamp changes with every commit, from any instance, and not with reads', { skip }, async (t) => {
  const one = await open(t)
  const two = await open(t, { url: one.url, migrated: false })
  const stamp = async (): Promise<string> => (await one.runner.first(changeStamp(one.db)))!.stamp
  const before = await stamp()
  await one.runner.all(one.db.selectFrom('content').selectAll())
  t.equal(await stamp(), before, 'a read leaves it')
  await two.runner.run(two.db.insertInto('settings').values({ key: 'store_name', value: 'Two' }))
  const afterOther = await stamp()
  t.not(afterOther, before, "another instance's commit moves it")
  await one.runner.transaction(async () => { await one.runner.run(one.db.updateTable('settings').set({ value: 'One' })) })
  t.not(await stamp(), afterOther, 'so does its own')

  const sqlite = openDatabase(':memory:')
  t.teardown(sqlite.close)
  await migrateToLatest(sqlite.db)
  const sqliteStamp = async (): Promise<string> => await sqlite.changeStamp()
  const start = await sqliteStamp()
  await sqlite.runner.run(sqlite.db.insertInto('settings').values({ key: 'k', value: 'v' }))
  t.not(await sqliteStamp(), start, 'the SQLite stamp (database.ts) moves with a write too')
})
