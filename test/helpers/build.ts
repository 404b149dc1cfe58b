import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildApp, type BuildOptions } from '../../src/app.js'
import { type Config, loadConfig } from '../../src/config.js'
import { type IdentityProvider, startIdentityProvider } from '../../src/dev/identity-provider.js'
import { type StripeEmulator, startStripeEmulator } from '../../src/dev/stripe-emulator/index.js'
import { backendEnv, provisionBackend } from './backend.js'
import { pdfBytes, pngBytes } from './fixtures.js'

/** The subset of tap's Test that the helpers use. */
export interface TestContext {
  teardown(fn: () => unknown): void
}

export const WEBHOOK_SECRET = 'whsec_test_secret_for_the_suite'
export const PUBLIC_URL = 'http://127.0.0.1:3999'
export const ADMIN_EMAIL = 'admin@example.com'

export interface Identity {
  email: string
  name?: string
  verified?: boolean
  sub?: string
}

/** An answer as a browser sees it: from inject, or from fetch over real HTTP. */
export type Answer = LightMyRequestResponse | Response

/** The Set-Cookie lines of an answer, one a cookie. */
export function setCookies (response: Answer): string[] {
  if (response instanceof Response) return response.headers.getSetCookie()
  const raw = response.headers['set-cookie']
  return raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]
}

const statusOf = (response: Answer): number => response instanceof Response ? response.status : response.statusCode
const locationOf = (response: Answer): string | undefined => {
  const location = response instanceof Response ? response.headers.get('location') : response.headers.location
  return typeof location === 'string' ? location : undefined
}

/** The CSRF token of a page's forms; `where` names the page in the error when it has none. */
export function csrfFrom (html: string, where: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html)
  if (match === null) throw new Error(`no CSRF token on ${where}`)
  return match[1]!
}

/** Cookies as a browser would keep them between requests. */
export class CookieJar {
  readonly cookies = new Map<string, string>()

  /** From an inject answer or a fetch Response: raw values, as a browser keeps them. */
  update (response: Answer): this {
    for (const line of setCookies(response)) {
      const [pair = '', ...attributes] = line.split(';')
      const name = pair.slice(0, pair.indexOf('='))
      const value = pair.slice(pair.indexOf('=') + 1)
      const expired = value === '' || attributes.some((a) => /^\s*max-age=0\s*$/i.test(a))
      if (expired) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
    return this
  }

  get header (): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }
}

/** One GET as a browser sends it: with the browser's cookies, keeping those it is sent, not following redirects. */
export type Send<A extends Answer> = (path: string) => Promise<A>

/** A browser on an app built in the test: each GET goes through inject with the jar's cookies. */
export function injectAs (app: FastifyInstance, jar: CookieJar): Send<LightMyRequestResponse> {
  return async (url) => {
    const response = await app.inject({ url, headers: jar.cookies.size > 0 ? { cookie: jar.header } : {} })
    jar.update(response)
    return response
  }
}

export interface SignInFlow<A extends Answer> {
  /** /login's answer: a redirect to the provider. */
  start: A
  /** Where the provider sent the browser back: the app's /login/callback with its code and state. */
  callback: URL
  /** The callback's answer: a 302 to `next` when the sign-in worked. */
  done: A
}

/**
 * Follows /login's redirect to the provider and returns the callback URL the provider answers with.
 * The dev provider signs in whoever the login_* parameters name; with `identity` null the URL is
 * left as it is (a fake GitHub or Google signs in its own account).
 */
export async function providerCallback (start: Answer, identity: Identity | null): Promise<URL> {
  const location = locationOf(start)
  if (statusOf(start) !== 302 || location === undefined) throw new Error(`/login answered ${statusOf(start)}`)
  const authorize = new URL(location)
  if (identity !== null) {
    authorize.searchParams.set('login_email', identity.email)
    authorize.searchParams.set('login_name', identity.name ?? identity.email.split('@')[0]!)
    authorize.searchParams.set('login_verified', identity.verified === false ? 'false' : 'true')
    if (identity.sub !== undefined) authorize.searchParams.set('login_sub', identity.sub)
  }
  const provider = await fetch(authorize, { redirect: 'manual' })
  await provider.arrayBuffer()
  const back = provider.headers.get('location')
  if (back === null) throw new Error(`the provider answered ${provider.status} without a redirect`)
  return new URL(back)
}

/**
 * Signs in as a browser does: /login?next=…, the provider, then /login/callback, all sent through
 * `send` (inject or real HTTP). Whether the callback signed anyone in is for the caller to judge.
 */
export async function signInFlow<A extends Answer> (send: Send<A>, identity: Identity | null, next = '/'): Promise<SignInFlow<A>> {
  const start = await send(`/login?next=${encodeURIComponent(next)}`)
  const callback = await providerCallback(start, identity)
  const done = await send(callback.pathname + callback.search)
  return { start, callback, done }
}

export interface Harness {
  app: FastifyInstance
  config: Config
  dir: string
  stripe: StripeEmulator
  idp: IdentityProvider
  /** Signs in through /login, the provider and /login/callback; returns the browser's cookies. */
  signIn(identity: Identity, next?: string): Promise<CookieJar>
  /** The jar as a browser for signInFlow: each GET through inject with its cookies. */
  send(jar: CookieJar): Send<LightMyRequestResponse>
  /** A CSRF token for the jar's session (read from a rendered form). */
  csrf(jar: CookieJar): Promise<string>
  /** GET/POST with the jar's cookies, updating them from the answer. */
  request(jar: CookieJar | null, options: { method?: 'GET' | 'POST' | 'HEAD', url: string, headers?: Record<string, string>, payload?: string | Buffer, form?: Record<string, string> }): Promise<LightMyRequestResponse>
  /** Uploads an item through the admin form; defaults give a valid upload. */
  upload(jar: CookieJar, fields?: UploadFields): Promise<LightMyRequestResponse>
  /** A signed webhook delivery through inject. */
  webhook(event: object, options?: { timestamp?: number, secret?: string, signature?: string | null }): Promise<LightMyRequestResponse>
}

export interface UploadFields {
  title?: string
  description?: string
  price?: string
  file?: Buffer | null
  fileName?: string
  preview?: Buffer | null
  previewName?: string
  /** The form's token; Harness.upload reads the jar's when it is left out, null sends none. */
  csrf?: string | null
  /** Put the files before the text fields (a client that does not follow the form's order). */
  filesFirst?: boolean
}

/** Builds a multipart/form-data body the way a browser would. */
export async function multipartBody (parts: Array<[string, string | { data: Buffer, filename: string, type: string }]>): Promise<{ body: Buffer, contentType: string }> {
  const form = new FormData()
  for (const [name, value] of parts) {
    if (typeof value === 'string') form.append(name, value)
    else form.append(name, new Blob([value.data], { type: value.type }), value.filename)
  }
  const response = new Response(form)
  return { body: Buffer.from(await response.arrayBuffer()), contentType: response.headers.get('content-type')! }
}

/**
 * The admin upload form as a browser sends it: the token (none when null or left out), the text
 * fields, the PDF and the cover; defaults give a valid upload.
 */
export async function uploadForm (fields: UploadFields = {}): Promise<{ body: Buffer, contentType: string }> {
  const text: Array<[string, string]> = [
    ['title', fields.title ?? 'A Field Guide to Testing'],
    ['description', fields.description ?? 'Everything about tests.'],
    ['price', fields.price ?? '5.00']
  ]
  const files: Array<[string, { data: Buffer, filename: string, type: string }]> = []
  const file = fields.file === undefined ? pdfBytes() : fields.file
  if (file !== null) files.push(['file', { data: file, filename: fields.fileName ?? 'guide.pdf', type: 'application/pdf' }])
  const preview = fields.preview === undefined ? pngBytes() : fields.preview
  if (preview !== null) files.push(['preview', { data: preview, filename: fields.previewName ?? 'cover.png', type: 'image/png' }])
  const token = fields.csrf ?? null
  return await multipartBody([
    ...(token === null ? [] : [['_csrf', token] as [string, string]]),
    ...(fields.filesFirst === true ? [...files, ...text] : [...text, ...files])
  ])
}

/**
 * The variables of an app on the test folder `dir`: its SQLite file and content folder in it, or
 * (TEST_BACKEND=postgres-s3) the PostgreSQL database and S3 prefix build() provisioned for it.
 */
export function testEnv (dir: string, stripeUrl: string, issuer: string, env: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    PUBLIC_URL,
    DATABASE_URL: join(dir, 'marketplace.db'),
    CONTENT_DIR: join(dir, 'content'),
    SESSION_SECRET: 'a-test-session-secret-that-is-long-enough',
    STRIPE_SECRET_KEY: 'sk_test_suite',
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    STRIPE_API_URL: stripeUrl,
    OAUTH_PROVIDER: 'oidc',
    OAUTH_CLIENT_ID: 'test-client',
    OAUTH_CLIENT_SECRET: 'test-secret',
    OIDC_ISSUER: issuer,
    ADMIN_EMAILS: ADMIN_EMAIL,
    RATE_LIMIT_PER_MINUTE: '0',
    ...backendEnv(dir),
    ...env
  }
}

export interface HarnessOptions extends BuildOptions {
  /** Changes the loaded config before the app is built: settings no variable reaches (OAuth endpoints). */
  config?: (config: Config) => void
}

/**
 * An app on a fresh temporary database and content folder (TEST_BACKEND=postgres-s3: a fresh
 * PostgreSQL database and S3 prefix, see ./backend.ts), with a Stripe emulator and an OIDC
 * provider on loopback; everything is closed and removed in teardown.
 */
export async function build (t: TestContext, env: Record<string, string> = {}, options: HarnessOptions = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'market-test-'))
  await provisionBackend(dir)
  const stripe = await startStripeEmulator({ webhookSecret: WEBHOOK_SECRET })
  const idp = await startIdentityProvider()
  const config = loadConfig(testEnv(dir, stripe.url, idp.url, env))
  options.config?.(config)
  const app = await buildApp(config, { logger: options.logger, now: options.now, sweepIntervalMs: options.sweepIntervalMs })
  await app.ready()
  t.teardown(async () => {
    await app.close()
    await stripe.close()
    await idp.close()
    await rm(dir, { recursive: true, force: true })
  })

  const request: Harness['request'] = async (jar, options) => {
    const headers: Record<string, string> = { ...options.headers }
    if (jar !== null && jar.cookies.size > 0) headers.cookie = jar.header
    let payload = options.payload
    if (options.form !== undefined) {
      payload = new URLSearchParams(options.form).toString()
      headers['content-type'] = 'application/x-www-form-urlencoded'
    }
    const response = await app.inject({ method: options.method ?? 'GET', url: options.url, headers, payload })
    jar?.update(response)
    return response
  }

  const send = (jar: CookieJar): Send<LightMyRequestResponse> => async (url) => await request(jar, { url })

  async function signIn (identity: Identity, next = '/'): Promise<CookieJar> {
    const jar = new CookieJar()
    const { done } = await signInFlow(send(jar), identity, next)
    if (done.statusCode !== 302) throw new Error(`/login/callback answered ${done.statusCode}: ${done.body.slice(0, 300)}`)
    return jar
  }

  async function csrf (jar: CookieJar): Promise<string> {
    // Every page of a signed-in user carries the sign-out form and its token.
    const page = await request(jar, { url: '/library' })
    return csrfFrom(page.body, `/library (status ${page.statusCode})`)
  }

  async function upload (jar: CookieJar, fields: UploadFields = {}): Promise<LightMyRequestResponse> {
    const { body, contentType } = await uploadForm({ ...fields, csrf: fields.csrf === undefined ? await csrf(jar) : fields.csrf })
    return await request(jar, { method: 'POST', url: '/admin/content', headers: { 'content-type': contentType }, payload: body })
  }

  async function webhook (event: object, options: { timestamp?: number, secret?: string, signature?: string | null } = {}): Promise<LightMyRequestResponse> {
    const payload = JSON.stringify(event)
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    const signature = options.signature === undefined ? stripe.sign(payload, options.timestamp, options.secret) : options.signature
    if (signature !== null) headers['stripe-signature'] = signature
    return await app.inject({ method: 'POST', url: '/webhooks/stripe', headers, payload })
  }

  return { app, config, dir, stripe, idp, signIn, send, csrf, request, upload, webhook }
}
