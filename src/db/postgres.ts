import { AsyncLocalStorage } from 'node:async_hooks'
import {
  type CompiledQuery,
  type Compilable,
  type DatabaseConnection,
  type Driver,
  Kysely,
  PostgresDialect,
  type QueryResult,
  type TransactionSettings
} from 'kysely'
import pg from 'pg'
import { PARALLEL_NESTING, type Runner } from './runner.js'
import { DomainError } from '../lib/errors.js'
import { changeStamp } from './change-stamp.js'
import type { Database } from './types.js'

// PostgreSQL underneath the same services: Kysely's PostgresDialect over a pg Pool, and the
// Runner contract of runner.ts. A transaction holds one pooled connection; AsyncLocalStorage
// carries it through the transaction's async context, so every query of that context (through
// the runner or through `db` itself) runs on it, and every other query on a connection of its own.

export interface PostgresHandle {
  db: Kysely<Database>
  runner: Runner
  /** Moves with every commit of any instance (pg_current_snapshot()): what the catalogue's cache compares. */
  changeStamp(): Promise<string>
  pool: pg.Pool
  close(): Promise<void>
  /** A refused start leaves nothing to remove on PostgreSQL (the database is the operator's): closes. */
  discardIfNew(): Promise<void>
}

export interface PostgresOptions {
  /** Connections per instance (default 10): PostgreSQL's max_connections bounds the sum over instances. */
  max?: number
  /** An idle connection that failed (the server restarted); the pool drops it and the next query opens another. */
  onIdleError?: (error: Error) => void
}

/** One open transaction (or savepoint) of an async context. */
interface Frame {
  client: pg.PoolClient
  /** ended: committed or rolled back, its connection back in the pool. */
  transaction: { savepoints: number, broken: Error | undefined, ended: boolean }
  /** Savepoints opened from this frame run one after another (they share the connection). */
  tail: Promise<unknown>
  /** A part of runner.parallel(): it may open no savepoint. */
  parallel?: true
}

const INT8 = 20
const NUMERIC = 1700
const BOOL = 16

/**
 * The services expect what better-sqlite3 returns: numbers for counts, sums and ids (pg returns
 * int8 and numeric as strings, to be exact beyond 2^53) and 0/1 for booleans (`EXISTS`, a
 * comparison selected as a column). An int8 past 2^53 is an error, never a silently rounded
 * count or size; numeric (a sum of bigints, an average) is a float, as SQLite's REAL is.
 */
const types = {
  getTypeParser (oid: number, format?: 'text' | 'binary') {
    if (oid === INT8) return parseInteger
    if (oid === NUMERIC) return Number
    if (oid === BOOL) return (value: string) => value === 't' ? 1 : 0
    return pg.types.getTypeParser(oid, format ?? 'text')
  }
} as pg.CustomTypesConfig

function parseInteger (value: string): number {
  const number = Number(value)
  if (!Number.isSafeInteger(number)) throw new RangeError(`integer ${value} is beyond what a JavaScript number holds exactly`)
  return number
}

const NUL_REFUSED = 'The request holds a NUL character (\\0), which no text here may contain. Remove it and try again.'

/**
 * PostgreSQL's text holds no NUL character, and refuses a query that sends one (SQLite stores
 * it, and a lookup with it finds nothing): a request that smuggles one in (a slug, a search, a
 * form field) is refused as the client's mistake, a 400, not a failing query.
 */
function refuseNul (compiled: CompiledQuery): void {
  for (const parameter of compiled.parameters) {
    if (typeof parameter === 'string' && parameter.includes('\u0000')) throw new DomainError('invalid', NUL_REFUSED)
  }
}

// The statements transactions run (the writes of webhooks, checkouts, refunds) are prepared by
// name, once per connection: PostgreSQL then parses and plans each once, not at every run. The
// first MAX_NAMED distinct texts get a name (they are few: the services' queries); any others
// run unnamed, so a stream of distinct texts cannot fill the server's memory.
const statementNames = new Map<string, string>()
const MAX_NAMED = 500
function statementName (text: string): string | undefined {
  let name = statementNames.get(text)
  if (name === undefined && statementNames.size < MAX_NAMED) {
    name = `statement_${statementNames.size + 1}`
    statementNames.set(text, name)
  }
  return name
}

/**
 * A query on a transaction's connection, shaped as Kysely's own PostgresConnection answers. The
 * pool's connections are in pg's pipeline mode: queries of one transaction started side by side
 * (a Promise.all, runner.parallel) are all sent at once and executed in the order sent, each
 * answered by its own result; a failing one fails alone (and, in a transaction, PostgreSQL
 * refuses those after it until the rollback).
 */
async function execute<R> (client: pg.PoolClient, compiled: CompiledQuery): Promise<QueryResult<R>> {
  refuseNul(compiled)
  const result = await client.query<R & pg.QueryResultRow>({ text: compiled.sql, values: [...compiled.parameters], name: statementName(compiled.sql) })
  const changed = ['INSERT', 'UPDATE', 'DELETE', 'MERGE'].includes(result.command)
  return {
    rows: result.rows ?? [],
    numAffectedRows: changed && result.rowCount !== null ? BigInt(result.rowCount) : undefined
  }
}

/**
 * Kysely's Postgres driver, except that inside a transaction's async context a query built and
 * executed with `db` runs on the transaction's connection: on another it would not see the
 * transaction's writes and could wait forever on its row locks.
 */
class ContextDriver implements Driver {
  constructor (private readonly inner: Driver, private readonly context: AsyncLocalStorage<Frame>) {}

  async init (): Promise<void> { await this.inner.init() }

  async acquireConnection (): Promise<DatabaseConnection> {
    const frame = openFrame(this.context)
    if (frame === undefined) return new PoolConnection(await this.inner.acquireConnection())
    return new FrameConnection(frame.client)
  }

  async beginTransaction (connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    if (connection instanceof FrameConnection) throw new Error('db.transaction() inside runner.transaction(): call runner.transaction() (a savepoint) instead')
    await this.inner.beginTransaction(unwrap(connection), settings)
  }

  async commitTransaction (connection: DatabaseConnection): Promise<void> { await this.inner.commitTransaction(unwrap(connection)) }
  async rollbackTransaction (connection: DatabaseConnection): Promise<void> { await this.inner.rollbackTransaction(unwrap(connection)) }

  async releaseConnection (connection: DatabaseConnection): Promise<void> {
    // The transaction's connection goes back to the pool when the transaction ends.
    if (connection instanceof FrameConnection) return
    await this.inner.releaseConnection(unwrap(connection))
  }

  async destroy (): Promise<void> { await this.inner.destroy() }
}

/**
 * The transaction of this async context, while it is open. Work started inside a transaction
 * and left running after it (a timer, a background task) runs outside it, on the pool: its
 * connection may already serve someone else.
 */
function openFrame (context: AsyncLocalStorage<Frame>): Frame | undefined {
  const frame = context.getStore()
  return frame === undefined || frame.transaction.ended ? undefined : frame
}

/** A pooled connection of Kysely's driver, refusing a NUL in a parameter before sending it. */
class PoolConnection implements DatabaseConnection {
  constructor (readonly inner: DatabaseConnection) {}

  async executeQuery<R> (compiled: CompiledQuery): Promise<QueryResult<R>> {
    refuseNul(compiled)
    return await this.inner.executeQuery<R>(compiled)
  }

  streamQuery<R> (compiled: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    refuseNul(compiled)
    return this.inner.streamQuery<R>(compiled, chunkSize)
  }
}

const unwrap = (connection: DatabaseConnection): DatabaseConnection => connection instanceof PoolConnection ? connection.inner : connection

class FrameConnection implements DatabaseConnection {
  constructor (private readonly client: pg.PoolClient) {}

  async executeQuery<R> (compiled: CompiledQuery): Promise<QueryResult<R>> {
    return await execute<R>(this.client, compiled)
  }

  async * streamQuery<R> (): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming inside a transaction is not supported')
  }
}

class ContextDialect extends PostgresDialect {
  constructor (pool: pg.Pool, private readonly context: AsyncLocalStorage<Frame>) {
    super({ pool })
  }

  override createDriver (): Driver {
    return new ContextDriver(super.createDriver(), this.context)
  }
}

/**
 * The Runner contract of runner.ts on a pg Pool: READ COMMITTED transactions on one pooled
 * connection, savepoints for nested ones, every other query on a connection of its own.
 */
function postgresRunner (db: Kysely<Database>, pool: pg.Pool, context: AsyncLocalStorage<Frame>): Runner {
  // Inside a transaction straight to its connection (what Kysely's executor would do, by way of
  // ContextDriver, at some cost per query); outside, through Kysely and the pool.
  const query = async <R>(compilable: Compilable<R>): Promise<QueryResult<R>> => {
    const compiled = compilable.compile()
    const frame = openFrame(context)
    return frame === undefined ? await db.executeQuery<R>(compiled) : await execute<R>(frame.client, compiled)
  }

  async function topLevel<T> (fn: () => Promise<T>): Promise<T> {
    const client = await pool.connect()
    const transaction: Frame['transaction'] = { savepoints: 0, broken: undefined, ended: false }
    try {
      await client.query('BEGIN')
      const result = await context.run({ client, transaction, tail: Promise.resolve() }, fn)
      await client.query('COMMIT')
      return result
    } catch (error) {
      try {
        await client.query('ROLLBACK')
      } catch (rollbackError) {
        transaction.broken = rollbackError as Error
      }
      throw error
    } finally {
      transaction.ended = true
      // A connection whose state is unknown is closed rather than handed to the next caller.
      client.release(transaction.broken)
    }
  }

  async function savepoint<T> (frame: Frame, fn: () => Promise<T>): Promise<T> {
    const { client, transaction } = frame
    const name = `runner_${++transaction.savepoints}`
    await client.query(`SAVEPOINT ${name}`)
    try {
      const result = await context.run({ client, transaction, tail: Promise.resolve() }, fn)
      await client.query(`RELEASE SAVEPOINT ${name}`)
      return result
    } catch (error) {
      // Undo only this part; the transaction goes on (PostgreSQL refuses every statement after
      // a failed one until this rollback).
      try {
        await client.query(`ROLLBACK TO SAVEPOINT ${name}`)
        await client.query(`RELEASE SAVEPOINT ${name}`)
      } catch (rollbackError) {
        transaction.broken = rollbackError as Error
      }
      throw error
    }
  }

  return {
    dialect: 'postgres',
    async all<R>(compilable: Compilable<R>): Promise<R[]> {
      return (await query(compilable)).rows
    },
    async first<R>(compilable: Compilable<R>): Promise<R | undefined> {
      return (await query(compilable)).rows[0]
    },
    async run (compilable: Compilable<unknown>): Promise<{ changes: number }> {
      return { changes: Number((await query(compilable)).numAffectedRows ?? 0n) }
    },
    async parallel<T>(fns: Array<() => Promise<T>>): Promise<Array<PromiseSettledResult<T>>> {
      const frame = openFrame(context)
      if (frame === undefined) throw new Error('runner.parallel() outside a transaction')
      return await Promise.allSettled(fns.map(async (fn) => await context.run({ ...frame, tail: Promise.resolve(), parallel: true }, fn)))
    },
    async transaction<T>(fn: () => Promise<T>): Promise<T> {
      const frame = openFrame(context)
      if (frame === undefined) return await topLevel(fn)
      if (frame.parallel === true) throw new Error(PARALLEL_NESTING)
      // Two savepoints started side by side from one frame would interleave on the connection.
      const result = frame.tail.then(async () => frame.transaction.ended ? await topLevel(fn) : await savepoint(frame, fn))
      frame.tail = result.catch(() => {})
      return await result
    }
  }
}

/**
 * PostgreSQL at `url` (postgres:// or postgresql://, as pg reads it: sslmode and the rest in the
 * query string). Nothing is connected until the first query; migrate with migrateToLatest(db).
 */
export function openPostgres (url: string, options: PostgresOptions = {}): PostgresHandle {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    types,
    // See execute(): a transaction's queries sent side by side share the round trips.
    pipeline: true,
    // The contract awaits nothing but queries inside a transaction: one idle for a minute is a
    // stuck instance holding row locks, and the server ends it.
    idle_in_transaction_session_timeout: 60_000
  })
  pool.on('error', options.onIdleError ?? (() => {}))
  const context = new AsyncLocalStorage<Frame>()
  const db = new Kysely<Database>({ dialect: new ContextDialect(pool, context) })
  let closed = false
  // Kysely's destroy() ends the pool too.
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await db.destroy()
  }
  const runner = postgresRunner(db, pool, context)
  const stamp = changeStamp(db)
  return {
    db,
    runner,
    async changeStamp () { return (await runner.first(stamp))!.stamp },
    pool,
    close,
    discardIfNew: close
  }
}
