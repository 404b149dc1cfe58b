// What bench/run.ts is made of besides its scenarios: processes it starts and stops, the load
// generators (autocannon for pages and webhooks, a byte-counting client for downloads), the
// statistics, and the sign-in dance over HTTP.
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { Agent, get as httpGet } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import { pdfBytes } from '../test/helpers/fixtures.js'

export const ROOT = new URL('..', import.meta.url).pathname
export const MB = 1024 * 1024
const started = Date.now()

export const log = (message: string): void => { console.log(`[bench ${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`) }
export const elapsedSeconds = (): number => (Date.now() - started) / 1000
export const fmt = (value: number, digits = 0): string => value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })

// One free-port helper for the bench and the tests.
export { freePort } from '../test/helpers/net.js'

/** Every process the bench started, stopped by stopAll() whatever happens. */
const children = new Set<ChildProcess>()
/** Those of them that lead a process group of their own (stopped as a group). */
const groups = new WeakSet<ChildProcess>()

export interface Started {
  child: ChildProcess
  /** The last 4,000 characters it wrote (for a failure's message). */
  output(): string
}

/**
 * Spawns `command` (node itself unless told) and waits until `ready` says so: a URL answering
 * 2xx, or a line of its output matching a pattern (whose first group is returned as `match`).
 */
export async function startProcess (name: string, args: string[], env: Record<string, string>, ready: string | RegExp, command: string = process.execPath, cwd: string = ROOT): Promise<Started & { match?: string }> {
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  child.once('exit', () => { children.delete(child) })
  let text = ''
  child.stdout?.on('data', (chunk: Buffer) => { text = (text + chunk.toString()).slice(-4000) })
  child.stderr?.on('data', (chunk: Buffer) => { text = (text + chunk.toString()).slice(-4000) })
  const started: Started = { child, output: () => text }
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${text}`)
    if (typeof ready === 'string') {
      try {
        const response = await fetch(ready)
        if (response.ok) { await response.arrayBuffer(); return started }
      } catch {}
    } else {
      const match = ready.exec(text)
      if (match !== null) return { ...started, match: match[1] }
    }
    await sleep(100)
  }
  throw new Error(`${name} was not ready (${String(ready)}) within 30 s:\n${text}`)
}

export async function stopProcess (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
  child.kill('SIGTERM')
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 5_000)
  await exited
  clearTimeout(timer)
}

export async function stopAll (): Promise<void> {
  for (const child of [...children]) await (groups.has(child) ? stopGroup(child) : stopProcess(child))
}

/**
 * Milliseconds from spawning `command args` (in `cwd`) until `url` answers 2xx, polled every
 * 10 ms; then the whole process group is stopped (`npm start` runs node under a shell).
 */
export async function timeToListen (name: string, command: string, args: string[], cwd: string, env: Record<string, string>, url: string): Promise<number> {
  const begin = performance.now()
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  children.add(child)
  groups.add(child)
  child.once('exit', () => { children.delete(child) })
  let text = ''
  child.stdout?.on('data', (chunk: Buffer) => { text = (text + chunk.toString()).slice(-4000) })
  child.stderr?.on('data', (chunk: Buffer) => { text = (text + chunk.toString()).slice(-4000) })
  try {
    const deadline = Date.now() + 120_000
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${text}`)
      try {
        const response = await fetch(url)
        await response.arrayBuffer()
        if (response.ok) return performance.now() - begin
      } catch {}
      await sleep(10)
    }
    throw new Error(`${name} was not listening within 120 s:\n${text}`)
  } finally {
    await stopGroup(child)
  }
}

/** SIGTERM to the process group of a child spawned with `detached` (then SIGKILL after 5 s). */
async function stopGroup (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
  const signal = (name: NodeJS.Signals): void => { try { process.kill(-child.pid!, name) } catch {} }
  signal('SIGTERM')
  const timer = setTimeout(() => { signal('SIGKILL') }, 5_000)
  await exited
  clearTimeout(timer)
}

/**
 * CPU seconds (user + system) a process has used so far, from /proc (Linux): unlike a rate, the
 * CPU a process spends per request does not drop when other tenants of the machine take its
 * cores (stolen time is not counted), so it compares two builds on a noisy machine.
 */
export function cpuSeconds (pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may hold spaces, so split after its closing parenthesis).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
  } catch {
    return undefined
  }
}
const CLOCK_TICKS = 100

export async function cannon (options: autocannon.Options): Promise<autocannon.Result> {
  return await new Promise((resolve, reject) => {
    autocannon({ timeout: 30, ...options }, (error, result) => { if (error !== null && error !== undefined) reject(error); else resolve(result) })
  })
}

export interface DownloadResult {
  mbPerSecond: number
  /** Statuses of the answers whose bytes were counted (after a followed redirect: the store's). */
  statuses: Set<number>
  /** Redirects followed (DOWNLOAD_OFFLOAD=redirect). */
  redirects: number
}

/**
 * `clients` loops each downloading `url` again and again for `seconds`, counting bytes as they
 * arrive. (autocannon counts a body only once it is complete, which for 50-500 MB bodies in a
 * few seconds gives figures in steps of one whole file.) With `follow`, a 302 is followed as a
 * browser does: the app's answer, then a GET of its Location (without the app's cookie), whose
 * bytes are counted; the time of both is in the figure.
 */
export async function download (url: string, headers: Record<string, string>, clients: number, seconds: number, options: { follow?: boolean } = {}): Promise<DownloadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients })
  const storeAgent = new Agent({ keepAlive: true, maxSockets: clients })
  const deadline = Date.now() + seconds * 1000
  const statuses = new Set<number>()
  let bytes = 0
  let redirects = 0
  const fetchOnce = async (target: string, requestHeaders: Record<string, string>, via: Agent, mayFollow: boolean): Promise<void> => {
    const location = await new Promise<string | undefined>((resolve, reject) => {
      const request = httpGet(target, { agent: via, headers: requestHeaders }, (response) => {
        if (mayFollow && response.statusCode === 302 && response.headers.location !== undefined) {
          response.resume()
          response.on('end', () => { resolve(response.headers.location) })
          response.on('error', () => { resolve(undefined) })
          return
        }
        statuses.add(response.statusCode ?? 0)
        const timer = setTimeout(() => { response.destroy(); resolve(undefined) }, Math.max(0, deadline - Date.now()))
        response.on('data', (chunk: Buffer) => { bytes += chunk.length })
        response.on('end', () => { clearTimeout(timer); resolve(undefined) })
        response.on('close', () => { clearTimeout(timer); resolve(undefined) })
        response.on('error', () => { clearTimeout(timer); resolve(undefined) })
      })
      request.on('error', reject)
    })
    if (location !== undefined && Date.now() < deadline) {
      redirects++
      await fetchOnce(new URL(location, target).href, {}, storeAgent, false)
    }
  }
  const begin = Date.now()
  await Promise.all(Array.from({ length: clients }, async () => { while (Date.now() < deadline) await fetchOnce(url, headers, agent, options.follow === true) }))
  const elapsed = (Date.now() - begin) / 1000
  agent.destroy()
  storeAgent.destroy()
  return { mbPerSecond: bytes / MB / elapsed, statuses, redirects }
}

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export function percentile (values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

/** Resident set size of a process in MB, from /proc (Linux). */
export function rssMb (pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match === null ? Number.NaN : Number(match[1]) / 1024
}

/** Cookies as a browser keeps them, for the sign-in dance over HTTP. */
export class Jar {
  readonly cookies = new Map<string, string>()
  update (response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';')
      const name = pair.slice(0, pair.indexOf('='))
      const value = pair.slice(pair.indexOf('=') + 1)
      if (value === '' || /max-age=0/i.test(line)) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }

  get header (): string { return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ') }
}

/** The OIDC flow over HTTP, as test/helpers/build.ts signIn does it with inject. */
export async function signIn (base: string, email: string, name: string): Promise<Jar> {
  const jar = new Jar()
  const start = await fetch(`${base}/login?next=%2F`, { redirect: 'manual' })
  jar.update(start)
  if (start.status !== 302) throw new Error(`/login answered ${start.status}`)
  const authorize = new URL(start.headers.get('location')!)
  authorize.searchParams.set('login_email', email)
  authorize.searchParams.set('login_name', name)
  authorize.searchParams.set('login_verified', 'true')
  const provider = await fetch(authorize, { redirect: 'manual' })
  await provider.arrayBuffer()
  const callback = new URL(provider.headers.get('location')!)
  const done = await fetch(`${base}${callback.pathname}${callback.search}`, { redirect: 'manual', headers: { cookie: jar.header } })
  jar.update(done)
  if (done.status !== 302) throw new Error(`/login/callback answered ${done.status}: ${(await done.text()).slice(0, 300)}`)
  return jar
}

export async function * pdfStream (size: number): AsyncGenerator<Buffer> {
  const head = pdfBytes('bench')
  yield head
  const chunk = Buffer.alloc(MB, 0x20)
  let left = size - head.length
  while (left > 0) {
    const part = left >= chunk.length ? chunk : chunk.subarray(0, left)
    left -= part.length
    yield part
  }
}
