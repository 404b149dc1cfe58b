import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type IdentityProvider, startIdentityProvider } from '../../src/dev/identity-provider.js'
import { type StripeEmulator, startStripeEmulator } from '../../src/dev/stripe-emulator/index.js'
import { provisionBackend } from './backend.js'
import { CookieJar, csrfFrom, type Identity, signInFlow, type TestContext, testEnv, WEBHOOK_SECRET } from './build.js'
import { freePort, sleep } from './net.js'

const ROOT = join(import.meta.dirname, '..', '..')

/** A request body sent in slices with pauses: an upload still arriving when a crash or signal comes. */
function slowBody (body: Buffer, slice: number, pauseMs: number): ReadableStream<Uint8Array> {
  let offset = 0
  return new ReadableStream({
    async pull (controller) {
      if (offset >= body.length) { controller.close(); return }
      if (offset > 0) await sleep(pauseMs)
      controller.enqueue(body.subarray(offset, offset + slice))
      offset += slice
    }
  })
}

export interface ServerProcess {
  url: string
  child: ChildProcess
  /** Everything the process wrote to stdout and stderr so far (pino JSON lines). */
  output(): string
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  kill(signal: NodeJS.Signals): Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/**
 * One app deployment as an operator runs it: `node --import tsx src/server.ts` on a database and
 * content folder that survive restarts, with a Stripe emulator and an OIDC provider on loopback.
 */
export interface Deployment {
  dir: string
  port: number
  url: string
  env: Record<string, string>
  stripe: StripeEmulator
  idp: IdentityProvider
  databasePath: string
  contentDir: string
  /**
   * Starts the server and waits until /healthz answers 200. A `PORT` in extraEnv starts another
   * instance of the deployment there (its url and PUBLIC_URL follow), on the same database.
   */
  start(extraEnv?: Record<string, string>): Promise<ServerProcess>
  /** Signs in over real HTTP, following the redirects by hand like a browser. */
  signIn(identity: Identity): Promise<CookieJar>
  /**
   * POSTs an upload form (see uploadForm) over real HTTP without following the redirect. With
   * `pauseMs` the body goes in 64 KiB slices with pauses, still arriving when a crash or signal comes.
   */
  upload(jar: CookieJar, form: { body: Buffer, contentType: string }, pauseMs?: number): Promise<Response>
  /** A signed webhook delivery over real HTTP: the status, or 0 when no answer came. */
  webhook(payload: string, signal?: AbortSignal): Promise<{ status: number, body: string }>
}

export async function deployment (t: TestContext, env: Record<string, string> = {}): Promise<Deployment> {
  const dir = await mkdtemp(join(tmpdir(), 'market-process-'))
  await provisionBackend(dir)
  const stripe = await startStripeEmulator({ webhookSecret: WEBHOOK_SECRET })
  const idp = await startIdentityProvider()
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const base = url
  const fullEnv: Record<string, string> = { ...testEnv(dir, stripe.url, idp.url), PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: url, LOG_LEVEL: 'info', ...env }
  const running = new Set<ServerProcess>()
  t.teardown(async () => {
    for (const server of running) await server.kill('SIGKILL')
    await stripe.close()
    await idp.close()
    await rm(dir, { recursive: true, force: true })
  })

  async function start (extraEnv: Record<string, string> = {}): Promise<ServerProcess> {
    const url = extraEnv.PORT === undefined ? base : `http://127.0.0.1:${extraEnv.PORT}`
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...fullEnv, ...(extraEnv.PORT === undefined ? {} : { PUBLIC_URL: url }), ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const chunks: Buffer[] = []
    child.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk))
    child.stderr!.on('data', (chunk: Buffer) => chunks.push(chunk))
    const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => { resolve({ code, signal }) })
    })
    const server: ServerProcess = {
      url,
      child,
      output: () => Buffer.concat(chunks).toString('utf8'),
      exited,
      async kill (signal) {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal)
        const result = await exited
        running.delete(server)
        return result
      }
    }
    running.add(server)
    exited.then(() => running.delete(server), () => running.delete(server))
    const deadline = Date.now() + 30_000
    for (;;) {
      if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} while starting:\n${server.output()}`)
      const healthy = await fetch(`${url}/healthz`).then((r) => r.status === 200, () => false)
      if (healthy) return server
      if (Date.now() > deadline) {
        await server.kill('SIGKILL')
        throw new Error(`server did not become healthy in 30 s:\n${server.output()}`)
      }
      await sleep(100)
    }
  }

  async function signIn (identity: Identity): Promise<CookieJar> {
    const jar = new CookieJar()
    const { callback, done } = await signInFlow(async (path) => {
      const response = await fetch(`${url}${path}`, { redirect: 'manual', headers: { cookie: jar.header } })
      jar.update(response)
      await response.arrayBuffer()
      return response
    }, identity)
    if (callback.origin !== url || callback.pathname !== '/login/callback') throw new Error(`the provider sent us to ${callback.href}`)
    if (done.status !== 302) throw new Error(`/login/callback answered ${done.status}`)
    return jar
  }

  async function upload (jar: CookieJar, form: { body: Buffer, contentType: string }, pauseMs?: number): Promise<Response> {
    const headers = { cookie: jar.header, 'content-type': form.contentType }
    if (pauseMs === undefined) return await fetch(`${url}/admin/content`, { method: 'POST', headers, body: form.body, redirect: 'manual' })
    return await fetch(`${url}/admin/content`, { method: 'POST', headers, body: slowBody(form.body, 64 * 1024, pauseMs), duplex: 'half', redirect: 'manual' } as RequestInit)
  }

  async function webhook (payload: string, signal?: AbortSignal): Promise<{ status: number, body: string }> {
    try {
      const response = await fetch(`${url}/webhooks/stripe`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': stripe.sign(payload) },
        body: payload,
        signal
      })
      return { status: response.status, body: await response.text() }
    } catch {
      return { status: 0, body: '' }
    }
  }

  return {
    dir,
    port,
    url,
    env: fullEnv,
    stripe,
    idp,
    databasePath: fullEnv.DATABASE_URL!,
    contentDir: fullEnv.CONTENT_DIR!,
    start,
    signIn,
    upload,
    webhook
  }
}

/** Reads a page's CSRF token (every signed-in page carries the sign-out form). */
export async function csrfToken (base: string, jar: CookieJar, path = '/library'): Promise<string> {
  const response = await fetch(`${base}${path}`, { headers: { cookie: jar.header } })
  jar.update(response)
  return csrfFrom(await response.text(), `${path} (status ${response.status})`)
}
