// The test harness: `build(t, env)` makes an app on a fresh database and content folder with a
// Stripe emulator and an OIDC provider beside it. The pieces live in their own files (cookie-jar,
// sign-in, forms, test-env, harness-requests); they are re-exported here, where tests import them.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import tap from 'tap'
import { buildApp, type BuildOptions } from '../../src/app.js'
import { createPdfPool, type PdfPool } from '../../src/modules/pdf/pool.js'
import { type Config, loadConfig } from '../../src/config.js'
import { type IdentityProvider, startIdentityProvider } from '../../src/dev/identity-provider.js'
import { type StripeEmulator, startStripeEmulator } from '../../src/dev/stripe-emulator/index.js'
import { provisionBackend } from './backend.js'
import type { CookieJar, Send } from './cookie-jar.js'
import type { UploadFields } from './forms.js'
import { browserActions, injectRequest, type Request, stripeWebhook, type Webhook } from './harness-requests.js'
import type { Identity } from './sign-in.js'
import { testEnv, WEBHOOK_SECRET } from './test-env.js'

export { type Answer, CookieJar, injectAs, type Send, setCookies } from './cookie-jar.js'
export { csrfFrom, multipartBody, uploadForm, type UploadFields } from './forms.js'
export { type Identity, providerCallback, signInFlow, type SignInFlow } from './sign-in.js'
export { ADMIN_EMAIL, PUBLIC_URL, testEnv, WEBHOOK_SECRET } from './test-env.js'

/** The subset of tap's Test that the helpers use. */
export interface TestContext {
  teardown(fn: () => unknown): void
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
  request: Request
  /** Uploads an item through the admin form; defaults give a valid upload. */
  upload(jar: CookieJar, fields?: UploadFields): Promise<LightMyRequestResponse>
  /** A signed webhook delivery through inject. */
  webhook: Webhook
}

export interface HarnessOptions extends BuildOptions {
  /** Changes the loaded config before the app is built: settings no variable reaches (OAuth endpoints). */
  config?: (config: Config) => void
}

let sharedPool: PdfPool | undefined
/**
 * The PDF engine's threads, one pool for every app of a test file: a thread takes about a
 * second to start under tsx, which each app's own pool would pay again. Closed when the file ends.
 */
export function testPdfPool (): PdfPool {
  if (sharedPool === undefined) {
    const pool = createPdfPool()
    sharedPool = pool
    tap.teardown(async () => { await pool.close() })
  }
  return sharedPool
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
  const app = await buildApp(config, { logger: options.logger, now: options.now, sweepIntervalMs: options.sweepIntervalMs, pdfJobs: options.pdfJobs ?? 'on-demand', pdfPool: options.pdfPool ?? testPdfPool() })
  await app.ready()
  t.teardown(async () => {
    await app.close()
    await stripe.close()
    await idp.close()
    await rm(dir, { recursive: true, force: true })
  })
  const request = injectRequest(app)
  return { app, config, dir, stripe, idp, request, ...browserActions(request), webhook: stripeWebhook(app, stripe) }
}
