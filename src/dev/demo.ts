import { randomBytes } from 'node:crypto'
import type { AppConfig, Config } from '../config.js'
import { startIdentityProvider } from './identity-provider.js'
import { type MailCatcher, startMailCatcher } from './mail-catcher/index.js'
import { startStripeEmulator } from './stripe-emulator/index.js'

/** A promotion code the demo's Stripe emulator knows, for trying promotion codes (Settings turns them on). */
export const DEMO_PROMOTION_CODE = 'DEMO20'

export interface Demo {
  config: AppConfig
  /** The demo's SMTP catcher (when SMTP_URL is unset), shown at /dev/mail. */
  mailCatcher: MailCatcher | null
  close(): Promise<void>
}

/**
 * Starts a loopback stand-in for whatever of OAuth and the payment provider (Stripe or Mollie) is
 * not configured, and returns the config pointing the real SDKs at them. Never loaded in production.
 */
export async function startDemo (config: Config, appUrl: () => string | undefined): Promise<Demo> {
  const closers: Array<() => Promise<void>> = []
  let { oauth, stripe, mollie, smtpUrl } = config
  let paymentsDashboardUrl: string | null = null
  let paymentHint = 'Pay with card 4242 4242 4242 4242.'
  let mailCatcher: MailCatcher | null = null

  if (oauth === null) {
    const idp = await startIdentityProvider({ defaultEmail: config.adminEmails[0] ?? 'admin@example.com' })
    closers.push(idp.close)
    oauth = { provider: 'oidc', clientId: 'demo-client', clientSecret: 'demo-secret', issuer: idp.url }
  }
  if (config.paymentProvider === 'stripe' && stripe === null) {
    const webhookSecret = `whsec_demo_${randomBytes(16).toString('hex')}`
    const emulator = await startStripeEmulator({
      webhookSecret,
      webhookUrl: () => {
        const base = appUrl()
        return base === undefined ? undefined : `${base}/webhooks/stripe`
      }
    })
    closers.push(emulator.close)
    stripe = { secretKey: 'sk_test_demo', webhookSecret, apiUrl: emulator.url }
    paymentsDashboardUrl = `${emulator.url}/payments`
    emulator.createPromotionCode({ code: DEMO_PROMOTION_CODE, percentOff: 20 })
    paymentHint = `Pay with card 4242 4242 4242 4242; promotion code ${DEMO_PROMOTION_CODE} takes 20% off once Settings allows codes.`
  }
  if (config.paymentProvider === 'mollie' && mollie === null) {
    // The official Mollie client speaks only https and pins its own CA bundle; the stand-in's
    // certificate is self-signed, so this demo process stops checking certificates (production
    // refuses to start with this setting: src/config.ts).
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'
    const { startMollieEmulator } = await import('./mollie-emulator/index.js')
    const emulator = await startMollieEmulator({})
    closers.push(emulator.close)
    mollie = { apiKey: 'test_demodemodemodemodemodemodemo', apiUrl: emulator.apiEndpoint, checkoutOrigin: emulator.pagesUrl }
    paymentsDashboardUrl = `${emulator.pagesUrl}/dashboard/payments`
    paymentHint = 'Pay with Mollie\'s test page: choose Paid, Failed, Canceled or Expired.'
  }
  if (smtpUrl === null) {
    // Receipts go out for real, over SMTP, to a catcher whose mail /dev/mail shows.
    mailCatcher = await startMailCatcher()
    closers.push(mailCatcher.close)
    smtpUrl = mailCatcher.url
  }
  // Only ADMIN_EMAILS decides who is an admin; the demo gives a newcomer one to try.
  const adminEmails = config.adminEmails.length > 0 ? config.adminEmails : ['admin@example.com']

  return {
    config: { ...config, oauth, stripe, mollie, smtpUrl, adminEmails, demo: { paymentsDashboardUrl, paymentHint, mailUrl: mailCatcher === null ? null : '/dev/mail' } },
    mailCatcher,
    close: async () => { await Promise.all(closers.map(async (close) => { await close() })) }
  }
}
