// The tap runs of `npm test`: the whole suite on SQLite + the content folder, then the database
// and storage suites again on PostgreSQL + S3 (TEST_BACKEND=postgres-s3: a throwaway cluster and
// an s3rver per test file, see helpers/backend.ts). Which files run there is said by each file in
// its opening comment lines (`// backends: sqlite, postgres-s3`), found by a scan: no list to keep.
// `node --import=tsx test/run-backends.ts --list` prints the selection and runs nothing.
// Each run ends with tap's own summary line ('# { total: ..., pass: ... }'); .ci/run adds them up.
// Without PostgreSQL's binaries the second run is skipped with a note, except in CI.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { postgresBinaries } from './helpers/postgres.js'

const ROOT = join(import.meta.dirname, '..')

/**
 * The backends a test file names in its opening comment lines, e.g. `// backends: sqlite, postgres-s3`
 * (the files that hold the database and storage guarantees). A file without the tag runs on SQLite
 * + files only (backup.test.ts, for one: it snapshots a SQLite file; PostgreSQL is backed up with pg_dump).
 */
function backendsOf (source: string): string[] {
  for (const line of source.split('\n')) {
    if (!line.startsWith('//')) break
    const tag = /^\/\/\s*backends:\s*(.*)$/.exec(line)
    if (tag !== null) return tag[1].split(',').map((name) => name.trim()).filter((name) => name !== '')
  }
  return ['sqlite']
}

/** Every test file under test/ that asks for a backend, relative to the root, in a stable order. */
function filesFor (backend: string): string[] {
  return readdirSync(join(ROOT, 'test'), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.test.ts'))
    .map((name) => join('test', name))
    .filter((file) => backendsOf(readFileSync(join(ROOT, file), 'utf8')).includes(backend))
    .sort()
}

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

const postgresS3 = filesFor('postgres-s3')
const selection = `# PostgreSQL + S3: the ${postgresS3.length} files tagged \`// backends: ... postgres-s3\`:\n${postgresS3.map((file) => `#   ${file}`).join('\n')}`
if (process.argv.includes('--list')) {
  console.log(selection)
  process.exit(0)
}

const inCi = !['', 'false', '0'].includes(process.env.CI ?? '')
let status = run('SQLite + files: the whole suite', [])
if (postgresBinaries() === undefined && !inCi) {
  console.log('# PostgreSQL + S3: skipped, PostgreSQL is not installed here (apt-get install postgresql)')
} else {
  console.log(selection)
  status = Math.max(status, run('PostgreSQL + S3: the database and storage suites', postgresS3, { TEST_BACKEND: 'postgres-s3' }))
}
process.exit(status)
