import { randomBytes } from 'node:crypto'
import { type Compilable, type Kysely, type RawBuilder, sql } from 'kysely'
import type { Test } from 'tap'
import type { Runner } from '../../src/db/runner.js'

/**
 * What a Runner under test comes with: `db` only builds and compiles queries in the engine's
 * dialect (the runner runs them); `close` ends it after the cases.
 */
export interface RunnerUnderTest {
  runner: Runner
  db: Kysely<any>
  close(): Promise<void>
}

/** A promise and the function that settles it: holds a transaction open for as long as a case needs. */
function gate (): { opened: Promise<void>, open: () => void } {
  let open = (): void => {}
  const opened = new Promise<void>((resolve) => { open = resolve })
  return { opened, open }
}

/**
 * The cases of the Runner contract (src/db/runner.ts), for any engine: SQLite's runner
 * (test/db/runner.test.ts) and PostgreSQL's run the same ones. Each case works in a table of its
 * own. Where the engines differ by design (SQLite holds queries of other contexts back while a
 * transaction is open; PostgreSQL runs them on another connection, where they see only what is
 * committed), the case checks what both promise and then what this dialect adds.
 */
export function runnerContract (t: Test, makeRunner: () => Promise<RunnerUnderTest>): void {
  async function setup (t: Test): Promise<RunnerUnderTest & { table: string, ids: () => Promise<number[]> }> {
    const made = await makeRunner()
    const table = `contract_${randomBytes(4).toString('hex')}`
    const ddl = (statement: RawBuilder<unknown>): Compilable<unknown> => {
      const compiled = statement.compile(made.db)
      return { compile: () => compiled }
    }
    await made.runner.run(ddl(sql`CREATE TABLE ${sql.table(table)} (id INTEGER PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0)`))
    t.teardown(async () => {
      await made.runner.run(ddl(sql`DROP TABLE ${sql.table(table)}`))
      await made.close()
    })
    const ids = async (): Promise<number[]> =>
      (await made.runner.all(made.db.selectFrom(table).select('id').orderBy('id'))).map((row: { id: number | string }) => Number(row.id))
    return { ...made, table, ids }
  }

  t.test('first, all and run answer rows and the number of rows changed', async (t) => {
    const { runner, db, table, ids } = await setup(t)
    t.same((await runner.run(db.insertInto(table).values([{ id: 1 }, { id: 2 }]))).changes, 2)
    t.same(await ids(), [1, 2])
    t.equal(Number((await runner.first(db.selectFrom(table).select('id').where('id', '=', 2)))?.id), 2)
    t.equal(await runner.first(db.selectFrom(table).select('id').where('id', '=', 3)), undefined, 'no row: undefined')
    t.equal((await runner.run(db.updateTable(table).set({ n: 1 }).where('id', '=', 3))).changes, 0)
  })

  t.test('a transaction commits when its function resolves, and answers what it returned', async (t) => {
    const { runner, db, table, ids } = await setup(t)
    const answer = await runner.transaction(async () => {
      await runner.run(db.insertInto(table).values({ id: 1 }))
      t.same(await ids(), [1], 'its own writes are visible inside it')
      return 'done'
    })
    t.equal(answer, 'done')
    t.same(await ids(), [1])
  })

  t.test('a throw rolls the whole transaction back and reaches the caller', async (t) => {
    const { runner, db, table, ids } = await setup(t)
    await t.rejects(runner.transaction(async () => {
      await runner.run(db.insertInto(table).values({ id: 1 }))
      await runner.transaction(async () => { await runner.run(db.insertInto(table).values({ id: 2 })) })
      throw new Error('changed my mind')
    }), { message: 'changed my mind' })
    t.same(await ids(), [], 'nothing of it stays, nested parts included')
    // A failing statement rolls back like a throw, and the runner is usable afterwards.
    await t.rejects(runner.transaction(async () => {
      await runner.run(db.insertInto(table).values({ id: 3 }))
      await runner.run(db.insertInto(table).values({ id: 3 }))
    }))
    t.same(await ids(), [])
    await runner.run(db.insertInto(table).values({ id: 4 }))
    t.same(await ids(), [4])
  })

  t.test('a nested transaction is a savepoint: a failing one undoes only itself', async (t) => {
    const { runner, db, table, ids } = await setup(t)
    await runner.transaction(async () => {
      await runner.run(db.insertInto(table).values({ id: 1 }))
      await t.rejects(runner.transaction(async () => {
        await runner.run(db.insertInto(table).values({ id: 2 }))
        throw new Error('this part fails')
      }))
      t.same(await ids(), [1], 'the outer part is still there, the nested one is gone')
      const inner = await runner.transaction(async () => {
        await runner.run(db.insertInto(table).values({ id: 3 }))
        // Two levels deep: still a savepoint of the one transaction.
        await runner.transaction(async () => { await runner.run(db.insertInto(table).values({ id: 4 })) })
        return 'kept'
      })
      t.equal(inner, 'kept')
    })
    t.same(await ids(), [1, 3, 4])
  })

  t.test('nested transactions begun side by side (Promise.all) each keep or undo only their own part', async (t) => {
    const { runner, db, table, ids } = await setup(t)
    await runner.transaction(async () => {
      const results = await Promise.allSettled([1, 2, 3, 4].map(async (id) => await runner.transaction(async () => {
        await runner.run(db.insertInto(table).values({ id }))
        await runner.first(db.selectFrom(table).select('id').where('id', '=', id))
        if (id === 2) throw new Error('the second one fails')
        await runner.transaction(async () => { await runner.run(db.insertInto(table).values({ id: id * 10 })) })
      })))
      t.same(results.map((result) => result.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
    })
    t.same(await ids(), [1, 3, 4, 10, 30, 40])
  })

  t.test('parallel runs its parts inside the transaction, settles each, and refuses a nested transaction in one', async (t) => {
    const { runner, db, table, ids } = await setup(t)
    await t.rejects(runner.parallel([async () => 1]), /outside a transaction/)
    const settled = await runner.transaction(async () => await runner.parallel([1, 2, 3, 4].map((id) => async () => {
      await runner.run(db.insertInto(table).values({ id }))
      if (id === 3) return await runner.transaction(async () => 'nested')
      return (await runner.first(db.selectFrom(table).select('id').where('id', '=', id)))?.id
    })))
    t.same(settled.map((result) => result.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'])
    t.same(settled.map((result) => result.status === 'fulfilled' ? Number(result.value) : null), [1, 2, null, 4], 'each answer to its own part')
    t.match((settled[2] as PromiseRejectedResult).reason, /inside runner.parallel/)
    t.same(await ids(), [1, 2, 3, 4], 'committed with the transaction')
  })

  t.test('a query outside never sees another context\'s uncommitted rows (on SQLite it waits for the commit)', async (t) => {
    const { runner, db, table, ids } = await setup(t)
    const held = gate()
    const inserted = gate()
    let committed = false
    const writer = runner.transaction(async () => {
      await runner.run(db.insertInto(table).values({ id: 1 }))
      inserted.open()
      // Deliberately against the rule (only queries inside a transaction): it holds it open.
      await held.opened
    }).then(() => { committed = true })
    await inserted.opened
    let readAt: boolean | undefined
    const reader = ids().then((rows) => { readAt = committed; return rows })
    await new Promise((resolve) => setTimeout(resolve, 50))
    if (runner.dialect === 'sqlite') t.equal(readAt, undefined, 'the read waits while the transaction is open')
    held.open()
    await writer
    const rows = await reader
    t.same(rows, readAt === true ? [1] : [], 'the read saw the data as committed at that moment')
    if (runner.dialect === 'sqlite') t.same(rows, [1], 'on SQLite it ran after the commit')
    t.same(await ids(), [1])
  })

  t.test('concurrent transactions do not lose each other\'s writes; on SQLite they run one after the other', async (t) => {
    const { runner, db, table } = await setup(t)
    await runner.run(db.insertInto(table).values({ id: 1, n: 0 }))
    const steps: string[] = []
    const one = async (name: string, fail: boolean): Promise<void> => {
      await runner.transaction(async () => {
        steps.push(`${name} begins`)
        await runner.run(db.updateTable(table).set((eb) => ({ n: eb('n', '+', 1) })).where('id', '=', 1))
        await runner.first(db.selectFrom(table).select('n').where('id', '=', 1))
        await runner.run(db.updateTable(table).set((eb) => ({ n: eb('n', '+', 1) })).where('id', '=', 1))
        steps.push(`${name} ends`)
        if (fail) throw new Error(`${name} fails`)
      })
    }
    const results = await Promise.allSettled([one('a', false), one('b', true), one('c', false), one('d', false)])
    t.same(results.map((result) => result.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'], 'a failing one is not mistaken for a nested part of another')
    const row = await runner.first(db.selectFrom(table).select('n').where('id', '=', 1))
    t.equal(Number(row?.n), 6, 'three committed transactions, two increments each')
    if (runner.dialect === 'sqlite') {
      t.same(steps, ['a begins', 'a ends', 'b begins', 'b ends', 'c begins', 'c ends', 'd begins', 'd ends'], 'in the order they were asked for, never interleaved')
    }
  })
}
