import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import type { FastifyPluginAsync } from 'fastify'
import type { AppConfig, Config, OAuthConfig } from '../config.js'
import { startIdentityProvider } from './identity-provider.js'
import { type MailCatcher, startMailCatcher } from './mail-catcher/index.js'
import { startStripeEmulator } from './stripe-emulator/index.js'

/** A promotion code the demo's Stripe emulator knows, for trying promotion codes (Settings turns them on). */
export const DEMO_PROMOTION_CODE = 'DEMO20'

/** Where each stand-in's browser pages are mounted in the app (on PUBLIC_URL's origin). */
export const DEMO_PATHS = { idp: '/dev/idp', stripe: '/dev/stripe', mollie: '/dev/mollie', mail: '/dev/mail' } as const

export interface Demo {
  config: AppConfig
  /** The demo's SMTP catcher (when SMTP_URL is unset), shown at /dev/mail. */
  mailCatcher: MailCatcher | null
  /**
   * The stand-ins' browser pages, for the app to register at its root: GET /dev/idp/authorize,
   * the Stripe emulator's pages under /dev/stripe/, Mollie's under /dev/mollie/. So every page a
   * browser visits is on PUBLIC_URL, whatever address the app is reached at.
   */
  routes: FastifyPluginAsync
  /** What the console says once the app listens: what is stood in, how to pay, how to go live. */
  consoleLines: string[]
  close(): Promise<void>
}

/** The part of each stand-in a demo is made of: its config, its pages, its console lines. */
interface Parts {
  closers: Array<() => Promise<void>>
  mounts: Array<{ prefix: string, plugin: FastifyPluginAsync }>
  standIns: Array<{ what: string, toGoLive: string }>
  /** The loopback APIs only the app (or a developer's script) calls, for the console. */
  apis: string[]
}

async function identityProvider (config: Config, parts: Parts): Promise<OAuthConfig> {
  const idp = await startIdentityProvider({
    defaultEmail: config.adminEmails[0] ?? 'admin@example.com',
    authorizeBase: `${config.publicUrl}${DEMO_PATHS.idp}`
  })
  parts.closers.push(idp.close)
  // The browser's one stop at the provider: the sign-in page and its form, answered by the
  // loopback provider (it redirects back to PUBLIC_URL/login/callback).
  parts.mounts.push({
    prefix: DEMO_PATHS.idp,
    plugin: async (app) => {
      app.get('/authorize', async (request, reply) => {
        const search = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : ''
        const answer = await fetch(`${idp.url}/authorize${search}`, { redirect: 'manual' })
        const location = answer.headers.get('location')
        if (location !== null) reply.header('location', location)
        return await reply.code(answer.status).header('cache-control', 'no-store')
          .type(answer.headers.get('content-type') ?? 'text/plain; charset=utf-8').send(await answer.text())
      })
    }
  })
  parts.standIns.push({ what: 'sign-in', toGoLive: 'OAUTH_PROVIDER, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET' })
  return { provider: 'oidc', clientId: 'demo-client', clientSecret: 'demo-secret', issuer: idp.url }
}

async function stripeEmulator (config: Config, appUrl: () => string | undefined, parts: Parts): Promise<Config['stripe']> {
  const webhookSecret = `whsec_demo_${randomBytes(16).toString('hex')}`
  const emulator = await startStripeEmulator({
    webhookSecret,
    webhookUrl: () => {
      const base = appUrl()
      return base === undefined ? undefined : `${base}/webhooks/stripe`
    },
    pagesUrl: `${config.publicUrl}${DEMO_PATHS.stripe}`,
    stateFile: join(dirname(config.databasePath), 'demo-stripe.json')
  })
  parts.closers.push(emulator.close)
  parts.mounts.push({ prefix: DEMO_PATHS.stripe, plugin: emulator.pages })
  emulator.createPromotionCode({ code: DEMO_PROMOTION_CODE, percentOff: 20 })
  parts.standIns.push({ what: 'Stripe', toGoLive: 'STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET' })
  parts.apis.push(`Stripe emulator API (for scripts, e.g. a Payment Link): ${emulator.url}/v1 with key sk_test_demo`)
  return { secretKey: 'sk_test_demo', webhookSecret, apiUrl: emulator.url }
}

async function mollieEmulator (config: Config, parts: Parts): Promise<Config['mollie']> {
  // The official Mollie client speaks only https and pins its own CA bundle; the stand-in's
  // certificate is self-signed, so this demo process stops checking certificates (production
  // refuses to start with this setting: src/config.ts).
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'
  const { startMollieEmulator } = await import('./mollie-emulator/index.js')
  const emulator = await startMollieEmulator({
    pagesUrl: `${config.publicUrl}${DEMO_PATHS.mollie}`,
    stateFile: join(dirname(config.databasePath), 'demo-mollie.json')
  })
  parts.closers.push(emulator.close)
  parts.mounts.push({ prefix: DEMO_PATHS.mollie, plugin: emulator.pages })
  parts.standIns.push({ what: 'Mollie', toGoLive: 'MOLLIE_API_KEY' })
  parts.apis.push(`Mollie emulator API (for scripts): ${emulator.apiEndpoint} (self-signed certificate)`)
  return { apiKey: 'test_demodemodemodemodemodemodemo', apiUrl: emulator.apiEndpoint, checkoutOrigin: new URL(config.publicUrl).origin }
}

/** How to pay in this demo and where its payments dashboard is (a path on PUBLIC_URL). */
function paying (config: Config, stoodIn: boolean): { hint: string, dashboard: string | null } {
  if (config.paymentProvider === 'mollie') {
    return stoodIn
      ? { hint: 'Pay with Mollie\'s test page: choose Paid, Failed, Canceled or Expired.', dashboard: `${DEMO_PATHS.mollie}/dashboard/payments` }
      : { hint: 'Payments go to your Mollie account (test mode with a test_ key).', dashboard: null }
  }
  return stoodIn
    ? { hint: `Pay with card 4242 4242 4242 4242; promotion code ${DEMO_PROMOTION_CODE} takes 20% off once Settings allows codes.`, dashboard: `${DEMO_PATHS.stripe}/payments` }
    : { hint: 'Payments go to your Stripe account (test mode with an sk_test_ key).', dashboard: null }
}

/** "a", "a and b", "a, b and c". */
function listed (words: string[]): string {
  return words.length <= 1 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]!}`
}

function consoleLines (config: AppConfig, { standIns, apis }: Parts, hint: string): string[] {
  const admin = config.adminEmails[0] ?? 'admin@example.com'
  const signIn = standIns.some((s) => s.what === 'sign-in') ? `Sign in as ${admin} to upload. ` : ''
  return [
    `DEMO MODE: ${listed(standIns.map((s) => s.what))} ${standIns.length === 1 ? 'is a local stand-in' : 'are local stand-ins'}; to go live, set ${standIns.map((s) => s.toGoLive).join('; ')}.`,
    `PDF Market (demo mode) is running: open ${config.publicUrl}`,
    `${signIn}${hint}`,
    ...apis
  ]
}

/**
 * Starts a loopback stand-in for whatever of OAuth, the payment provider (Stripe or Mollie) and
 * SMTP is not configured, and returns the config pointing the real SDKs at them, plus the
 * stand-ins' browser pages for the app to serve on its own origin. Never loaded in production.
 */
export async function startDemo (config: Config, appUrl: () => string | undefined): Promise<Demo> {
  const parts: Parts = { closers: [], mounts: [], standIns: [], apis: [] }
  let { oauth, stripe, mollie, smtpUrl } = config
  let mailCatcher: MailCatcher | null = null

  if (oauth === null) oauth = await identityProvider(config, parts)
  const paymentStoodIn = config.paymentProvider === 'stripe' ? stripe === null : mollie === null
  if (config.paymentProvider === 'stripe' && stripe === null) stripe = await stripeEmulator(config, appUrl, parts)
  if (config.paymentProvider === 'mollie' && mollie === null) mollie = await mollieEmulator(config, parts)
  if (smtpUrl === null) {
    // Receipts go out for real, over SMTP, to a catcher whose mail /dev/mail shows.
    mailCatcher = await startMailCatcher()
    parts.closers.push(mailCatcher.close)
    smtpUrl = mailCatcher.url
    parts.standIns.push({ what: 'mail', toGoLive: 'SMTP_URL' })
  }
  // Only ADMIN_EMAILS decides who is an admin; the demo gives a newcomer one to try.
  const adminEmails = config.adminEmails.length > 0 ? config.adminEmails : ['admin@example.com']
  const pay = paying(config, paymentStoodIn)
  const appConfig: AppConfig = {
    ...config,
    oauth,
    stripe,
    mollie,
    smtpUrl,
    adminEmails,
    demo: { paymentsDashboardUrl: pay.dashboard, paymentHint: pay.hint, mailUrl: mailCatcher === null ? null : DEMO_PATHS.mail }
  }

  return {
    config: appConfig,
    mailCatcher,
    routes: async (app) => {
      // The stand-ins' own pages: no session, no CSRF token and no site CSP (they carry their
      // own inline styles, as the real providers' pages do on their own origins).
      for (const { prefix, plugin } of parts.mounts) await app.register(plugin, { prefix })
    },
    consoleLines: consoleLines(appConfig, parts, pay.hint),
    close: async () => { await Promise.all(parts.closers.map(async (close) => { await close() })) }
  }
}
