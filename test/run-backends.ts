// The tap runs of `npm test`: the whole suite on SQLite + the content folder, then the database
// and storage suites again on PostgreSQL + S3 (TEST_BACKEND=postgres-s3: a throwaway cluster and
// an s3rver per test file, see helpers/backend.ts). Each run ends with tap's own summary line
// ('# { total: ..., pass: ... }'); .ci/run adds them up.
// Without PostgreSQL's binaries the second run is skipped with a note, except in CI.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { postgresBinaries } from './helpers/postgres.js'

/** The suites that hold the database and storage guarantees (backup.test.ts stays out: it snapshots a SQLite file; a PostgreSQL store is backed up with pg_dump). */
const POSTGRES_S3_SUITES = [
  'test/purchase/orders.test.ts',
  'test/purchase/webhooks.test.ts',
  'test/guarantees/storm.test.ts',
  'test/guarantees/crash.test.ts',
  'test/items/upload.test.ts',
  'test/delivery/download-log.test.ts',
  'test/delivery/download-links.test.ts',
  'test/items/versions.test.ts',
  'test/purchase/fulfilment.test.ts',
  'test/purchase/guest-checkout.test.ts',
  'test/purchase/mollie.test.ts',
  'test/purchase/promotion-codes-and-payment-links.test.ts',
  'test/mail/receipts.test.ts',
  'test/catalog/search.test.ts',
  'test/desk/admin-orders.test.ts',
  'test/guarantees/fuzz.test.ts',
  'test/guarantees/shutdown.test.ts',
  'test/http/page-cache.test.ts',
  'test/storage/sweep.test.ts',
  'test/purchase/refunds.test.ts',
  'test/lib/slugs.test.ts',
  'test/settings/store-currency.test.ts'
]

const ROOT = join(import.meta.dirname, '..')
// tap's command-line entry (its bin), run by this Node: no shell, the same on every platform.
const tap = join(ROOT, 'node_modules', 'tap', 'dist', 'esm', 'run.mjs')

function run (label: string, args: string[], env: Record<string, string> = {}): number {
  console.log(`\n# ${label}`)
  const started = Date.now()
  const result = spawnSync(process.execPath, [tap, ...args], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env } })
  console.log(`# ${label}: ${Math.round((Date.now() - started) / 1000)} s`)
  if (result.error !== undefined) throw result.error
  return result.status ?? 1
}

const inCi = !['', 'false', '0'].includes(process.env.CI ?? '')
let status = run('SQLite + files: the whole suite', [])
if (postgresBinaries() === undefined && !inCi) {
  console.log('# PostgreSQL + S3: skipped, PostgreSQL is not installed here (apt-get install postgresql)')
} else {
  status = Math.max(status, run('PostgreSQL + S3: the database and storage suites', POSTGRES_S3_SUITES, { TEST_BACKEND: 'postgres-s3' }))
}
process.exit(status)
