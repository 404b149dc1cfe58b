import { existsSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { ConfigError, loadConfig } from '../../src/config.js'
import { ADMIN_EMAIL, build, type Harness, testEnv } from '../helpers/build.js'
import { pdfBytes, pngBytes } from '../helpers/fixtures.js'

const ROOT = join(import.meta.dirname, '..', '..')
const MINUTE = 60_000

/** Every entry of a folder (dot-entries too) with its bytes: what "nothing was touched" compares. */
async function snapshot (dir: string): Promise<Record<string, string>> {
  const names = await readdir(dir).catch(() => [] as string[])
  const entries = await Promise.all(names.map(async (name) => {
    const path = join(dir, name)
    return [name, (await stat(path)).isDirectory() ? 'dir' : (await readFile(path)).toString('base64')] as const
  }))
  return Object.fromEntries(entries)
}

/** Collects the app's log lines (pino JSON) for assertions. */
function logSink (): { lines: Array<Record<string, unknown>>, logger: { level: string, stream: Writable } } {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      callback()
    }
  })
  return { lines, logger: { level: 'info', stream } }
}

/** Another app on the harness's Stripe and identity provider, with some variables changed. */
async function another (t: Test, h: Harness, env: Record<string, string> = {}, logger?: ReturnType<typeof logSink>['logger']): Promise<FastifyInstance> {
  const app = await buildApp(loadConfig(testEnv(h.dir, h.stripe.url, h.idp.url, env)), { logger })
  t.teardown(async () => { await app.close() })
  await app.ready()
  return app
}

/** Builds an app that must refuse to start; returns its ConfigError. */
async function refusal (t: Test, h: Harness, env: Record<string, string>): Promise<ConfigError> {
  try {
    await another(t, h, env)
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error('the app started')
}

/** A harness with one uploaded item (a PDF and a preview in the folder, plus the store marker). */
async function storeWithItem (t: Test, price = '5.00'): Promise<{ h: Harness, row: { slug: string, file_key: string, preview_key: string } }> {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  const response = await h.upload(admin, { title: 'Kept Safe', price })
  if (response.statusCode !== 303) throw new Error(`upload answered ${response.statusCode}`)
  const row = await h.app.db.selectFrom('content').select(['slug', 'file_key', 'preview_key']).executeTakeFirstOrThrow()
  return { h, row }
}

t.test('a second instance on a new database beside a running store\'s folder refuses to start and touches no file', async (t) => {
  const { h } = await storeWithItem(t)
  const before = await snapshot(h.config.contentDir)
  t.ok(before['.store-id'], 'the folder carries its store id')

  const error = await refusal(t, h, { DATABASE_URL: join(h.dir, 'mistyped.db') })
  t.equal(error.variable, 'DATABASE_URL')
  t.match(error.message, /CONTENT_DIR/, 'the message names CONTENT_DIR too')
  t.same(await snapshot(h.config.contentDir), before, 'every file in the folder is still there, byte-identical')
  t.notOk(existsSync(join(h.dir, 'mistyped.db')), 'and the refused start left no database file behind')
  t.equal((await h.app.inject('/content/kept-safe')).statusCode, 200, 'the first instance still serves the item')
})

t.test('an empty database beside a folder of stored files without a marker refuses to start', async (t) => {
  const h = await build(t)
  const folder = join(h.dir, 'old-content')
  await mkdir(folder)
  await writeFile(join(folder, `${randomUUID()}.pdf`), pdfBytes('someone else\'s'))
  await writeFile(join(folder, `${randomUUID()}.png`), pngBytes())
  const before = await snapshot(folder)

  const error = await refusal(t, h, { DATABASE_URL: join(h.dir, 'empty.db'), CONTENT_DIR: folder })
  t.equal(error.variable, 'DATABASE_URL')
  t.match(error.message, /no items.*2 stored files/)
  t.same(await snapshot(folder), before, 'nothing was written or removed')
})

t.test('a store from before store ids (rows and files, no marker) is adopted; the same database beside the wrong folder is refused', async (t) => {
  const { h, row } = await storeWithItem(t, '0')
  // Make it look like a store made before this change.
  await rm(join(h.config.contentDir, '.store-id'))
  await h.app.db.deleteFrom('meta').execute()

  const wrong = join(h.dir, 'new-empty-folder')
  const error = await refusal(t, h, { CONTENT_DIR: wrong })
  t.equal(error.variable, 'CONTENT_DIR', 'a folder holding none of its files is not adopted')
  t.match(error.message, /DATABASE_URL/)
  t.same(await readdir(wrong).catch(() => 'absent'), 'absent', 'the wrong folder was not even created')

  const app = await another(t, h)
  const id = (await app.db.selectFrom('meta').select('value').where('key', '=', 'store_id').executeTakeFirstOrThrow()).value
  t.equal((await readFile(join(h.config.contentDir, '.store-id'), 'utf8')).trim(), id, 'the folder and the database share one store id')
  t.same((await readdir(h.config.contentDir)).sort(), ['.store-id', row.file_key, row.preview_key].sort(), 'the files are kept')
  t.same((await app.inject('/healthz')).json(), { status: 'ok' })

  const again = await another(t, h)
  t.same((await again.inject('/healthz')).json(), { status: 'ok' }, 'a later start finds them bound')
})

t.test('at start a stored file no row refers to is moved to quarantine only inside the window; a newer or much older one stays', async (t) => {
  const { h, row } = await storeWithItem(t)
  const dir = h.config.contentDir
  const now = Date.now()
  const crashed = `${randomUUID()}.pdf`
  const old = `${randomUUID()}.pdf`
  const inFlight = `${randomUUID()}.png`
  for (const [name, ageMs] of [[crashed, 5 * MINUTE], [old, 2 * 24 * 60 * MINUTE], [inFlight, 10_000]] as const) {
    await writeFile(join(dir, name), pdfBytes(name))
    const time = new Date(now - ageMs)
    await utimes(join(dir, name), time, time)
  }

  const sink = logSink()
  const app = await another(t, h, {}, sink.logger)
  t.same((await readdir(join(dir, '.quarantine'))), [crashed], 'the crash\'s leftover is in .quarantine')
  t.same(await readFile(join(dir, '.quarantine', crashed)), pdfBytes(crashed), 'byte-identical: moved, not deleted')
  t.same((await readdir(dir)).filter((n) => !n.startsWith('.')).sort(), [row.file_key, row.preview_key, old, inFlight].sort(),
    'a day-old file and a 10-second-old one (maybe another instance\'s upload about to commit) are left in place')
  const moved = sink.lines.find((l) => l.level === 40 && Array.isArray(l.files) && l.files.includes(crashed))
  t.ok(moved, 'a warning names the quarantined file')
  t.match(moved?.msg, /quarantine/)
  const left = sink.lines.find((l) => l.level === 40 && Array.isArray(l.files) && l.files.includes(old))
  t.same((left?.files as string[] | undefined)?.sort(), [old, inFlight].sort(), 'a warning names the files left in place')
  t.same((await app.inject('/healthz')).json(), { status: 'ok' })
  t.same((await h.app.inject('/content/kept-safe')).statusCode, 200)
})

t.test('a download or preview whose file is missing answers a 503 page that says so, and /healthz turns degraded', async (t) => {
  const { h, row } = await storeWithItem(t, '0')
  const reader = await h.signIn({ email: 'reader@example.com' })
  t.same((await h.app.inject('/healthz')).json(), { status: 'ok' })
  t.equal((await h.request(reader, { url: '/content/kept-safe/download' })).statusCode, 200)

  await rm(join(h.config.contentDir, row.file_key))
  for (let i = 0; i < 2; i++) {
    const download = await h.request(reader, { url: '/content/kept-safe/download' })
    t.equal(download.statusCode, 503)
    t.match(download.headers['content-type'], /text\/html/)
    t.match(download.body, /This PDF&#39;s file is missing from the store\. The shop has been told; please try again later or contact the shop\./)
  }
  const health = await h.app.inject('/healthz')
  t.equal(health.statusCode, 503)
  t.same(health.json(), { status: 'degraded', missingFiles: 1 }, 'one missing file, however often it is asked for')

  await rm(join(h.config.contentDir, row.preview_key))
  const preview = await h.request(null, { url: '/content/kept-safe/preview' })
  t.equal(preview.statusCode, 503)
  t.match(preview.body, /preview image is missing from the store/)
  t.same((await h.app.inject('/healthz')).json(), { status: 'degraded', missingFiles: 2 })
})

t.test('a start with an item whose file is gone logs the item and answers /healthz 503 degraded at once', async (t) => {
  const { h, row } = await storeWithItem(t)
  await rm(join(h.config.contentDir, row.file_key))
  const sink = logSink()
  const app = await another(t, h, {}, sink.logger)
  const health = await app.inject('/healthz')
  t.equal(health.statusCode, 503)
  t.same(health.json(), { status: 'degraded', missingFiles: 1 })
  t.ok(sink.lines.some((l) => l.level === 50 && l.slug === 'kept-safe' && l.key === row.file_key), 'an error names the item and its key')
})

t.test('the server process refuses a database beside another store\'s folder with one line and exit code 1', async (t) => {
  const { h } = await storeWithItem(t)
  const before = await snapshot(h.config.contentDir)
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ...testEnv(h.dir, h.stripe.url, h.idp.url, { DATABASE_URL: join(h.dir, 'mistyped.db'), PORT: '0', LOG_LEVEL: 'info' })
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
  // Without the refusal the server would listen and never exit.
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  clearTimeout(timer)

  t.equal(code, 1)
  const lines = output.split('\n').filter((line) => line.trim() !== '')
  t.equal(lines.length, 1, `one line: ${output}`)
  t.match(lines[0], /^Configuration error: DATABASE_URL: .*CONTENT_DIR/)
  t.same(await snapshot(h.config.contentDir), before, 'every file is still there, byte-identical')
})
