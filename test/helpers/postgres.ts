import { execFile } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { userInfo, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { freePort } from './net.js'

// A throwaway PostgreSQL cluster per test file, from Debian's `postgresql` package: initdb in a
// temporary folder, a server on a free loopback port with trust authentication, a fresh
// database per build(). Durability is switched off (fsync, synchronous_commit): these clusters
// live for one file and are removed with it. The benchmark (bench/run.ts) starts one too, with
// a production's durability (`settings`).

const run = promisify(execFile)

export interface PostgresCluster {
  /** false when the cluster runs; else why the PostgreSQL tests of the file are skipped. */
  skip: false
  port: number
  /**
   * A fresh database on the cluster: its URL (postgres://postgres@127.0.0.1:port/name). Empty, or
   * a copy of the database `template` (CREATE DATABASE ... TEMPLATE: a file copy, faster than
   * running the migrations again).
   */
  build(options?: { template?: string }): Promise<string>
  /** The server's log so far (for a failing test's diagnostics). */
  log(): string
}

export interface NoPostgres {
  skip: string
  build(): Promise<never>
}

/** The subset of tap's Test that starting a cluster uses. */
interface Context {
  teardown(fn: () => unknown): void
}

export interface PostgresOptions {
  /** postgresql.conf settings over the tests' defaults (durability off, 16MB of shared buffers). */
  settings?: Record<string, string>
}

const TEST_SETTINGS: Record<string, string> = {
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  shared_buffers: '16MB',
  max_connections: '200'
}

/** The newest PostgreSQL's bin folder under /usr/lib/postgresql (Debian's layout), or undefined. */
export function postgresBinaries (): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root)
    .filter((name) => /^\d+(\.\d+)?$/.test(name) && existsSync(join(root, name, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a))
  return versions.length === 0 ? undefined : join(root, versions[0]!, 'bin')
}

/** CI=false or 0 is how some runners say "not CI" (as .ci/run reads it). */
const inCi = (): boolean => !['', 'false', '0'].includes(process.env.CI ?? '')

/**
 * Starts the file's cluster, stopped and removed in `t`'s teardown. Without PostgreSQL's
 * binaries the file's PostgreSQL tests are skipped, except in CI, where that is a failure.
 */
export async function startPostgres (t: Context, options: PostgresOptions = {}): Promise<PostgresCluster | NoPostgres> {
  const bin = postgresBinaries()
  if (bin === undefined) {
    if (inCi()) throw new Error('PostgreSQL is not installed (no /usr/lib/postgresql/*/bin): CI must run the PostgreSQL tests (.ci/run installs the postgresql package)')
    const skip = 'PostgreSQL is not installed here (apt-get install postgresql)'
    return { skip, build: async () => { throw new Error(skip) } }
  }

  // initdb refuses to run as root: the cluster then belongs to the postgres user.
  const asRoot = userInfo().uid === 0
  const command = async (tool: string, args: string[]): Promise<void> => {
    const file = join(bin, tool)
    if (asRoot) await run('runuser', ['-u', 'postgres', '--', file, ...args])
    else await run(file, args)
  }
  const dir = mkdtempSync(join(tmpdir(), 'market-pg-'))
  if (asRoot) chownSync(dir, pgUid(), pgGid())
  const data = join(dir, 'data')
  const logFile = join(dir, 'server.log')
  // Filled in as the cluster comes up; stop() undoes whatever got done.
  const running: { pid?: number, admin?: pg.Client } = {}

  const stop = async (): Promise<void> => {
    process.off('exit', killOnExit)
    await running.admin?.end().catch(() => {})
    try {
      await command('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w'])
    } catch {
      if (running.pid !== undefined) try { process.kill(running.pid, 'SIGQUIT') } catch {}
    }
    rmSync(dir, { recursive: true, force: true })
  }
  // A test file that dies without its teardown must not leave a server behind.
  const killOnExit = (): void => {
    if (running.pid !== undefined) try { process.kill(running.pid, 'SIGQUIT') } catch {}
    rmSync(dir, { recursive: true, force: true })
  }
  process.on('exit', killOnExit)
  t.teardown(stop)

  await command('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync', '--no-instructions'])
  let port = 0
  for (let attempt = 1; ; attempt++) {
    port = await freePort()
    writeFileSync(join(data, 'postgresql.auto.conf'), [
      "listen_addresses = '127.0.0.1'",
      `port = ${port}`,
      // TCP only: no socket file in a folder the test user may not own.
      "unix_socket_directories = ''",
      ...Object.entries({ ...TEST_SETTINGS, ...options.settings }).map(([name, value]) => `${name} = ${value}`),
      ''
    ].join('\n'))
    try {
      await command('pg_ctl', ['start', '-D', data, '-l', logFile, '-w', '-t', '60'])
      break
    } catch (error) {
      // Someone took the port between freePort() and the start: try another.
      if (attempt >= 3) throw new Error(`PostgreSQL did not start: ${(error as Error).message}\n${readLog(logFile)}`)
    }
  }
  running.pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0])

  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' })
  client.on('error', () => {})
  await client.connect()
  running.admin = client
  let databases = 0
  return {
    skip: false,
    port,
    async build (options = {}) {
      const name = `test_${++databases}`
      await client.query(`CREATE DATABASE ${name}${options.template === undefined ? '' : ` TEMPLATE ${pg.escapeIdentifier(options.template)}`}`)
      return `postgres://postgres@127.0.0.1:${port}/${name}`
    },
    log: () => readLog(logFile)
  }
}

function readLog (file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}

let pgIds: { uid: number, gid: number } | undefined
function pgUser (): { uid: number, gid: number } {
  if (pgIds !== undefined) return pgIds
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((entry) => entry.startsWith('postgres:'))
  if (line === undefined) throw new Error('running as root needs the postgres user (created by the postgresql package) to own the cluster')
  const [, , uid, gid] = line.split(':')
  pgIds = { uid: Number(uid), gid: Number(gid) }
  return pgIds
}
const pgUid = (): number => pgUser().uid
const pgGid = (): number => pgUser().gid
