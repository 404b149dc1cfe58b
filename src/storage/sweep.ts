import type { Kysely } from 'kysely'
import type { Runner } from '../db/runner.js'
import type { Database } from '../db/types.js'
import type { FileStore, SweepResult } from './store.js'

/** How often each instance sweeps the store, besides once at start-up. */
export const SWEEP_INTERVAL_MS = 60 * 60 * 1000
/**
 * How long a sweep holds its lease: longer than any sweep takes. A holder that crashes keeps
 * the others from sweeping this long at most.
 */
export const SWEEP_LEASE_MS = 10 * 60 * 1000
const LEASE = 'sweep'

/**
 * The store's sweep (FileStore.sweep: files no row refers to, moved to the quarantine, never
 * deleted), one instance at a time: a sweep first takes the `sweep` lease in the database
 * (table `leases`) and gives it back when done. Of two instances sweeping at once, one sweeps
 * and the other skips its turn.
 */
export function createSweep (deps: { db: Kysely<Database>, runner: Runner, files: FileStore, referenced: () => Promise<ReadonlySet<string>>, holder: string, now?: () => Date }) {
  const { db, runner, files, referenced, holder } = deps
  const now = deps.now ?? (() => new Date())

  /**
   * Takes the lease if nobody holds it or its holder's time ran out. One statement: of two
   * instances racing, one inserts or updates the row and the other changes nothing
   * (PostgreSQL: the second waits on the row, then finds the lease held).
   */
  async function claim (): Promise<boolean> {
    const at = now()
    const until = new Date(at.getTime() + SWEEP_LEASE_MS).toISOString()
    const row = await runner.first(db.insertInto('leases').values({ name: LEASE, holder, claimed_until: until })
      .onConflict((oc) => oc.column('name').doUpdateSet({ holder, claimed_until: until }).where('leases.claimed_until', '<', at.toISOString()))
      .returning('holder'))
    return row !== undefined
  }

  async function release (): Promise<void> {
    await runner.run(db.deleteFrom('leases').where('name', '=', LEASE).where('holder', '=', holder))
  }

  return {
    holder,
    claim,
    release,

    /** One sweep, unless another instance is sweeping: what it did, or 'busy'. */
    async run (): Promise<SweepResult | 'busy'> {
      if (!await claim()) return 'busy'
      try {
        return await files.sweep(referenced)
      } finally {
        await release()
      }
    }
  }
}

export type Sweep = ReturnType<typeof createSweep>
