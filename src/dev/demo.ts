import { randomBytes } from 'node:crypto'
import type { AppConfig, Config } from '../config.js'
import { startIdentityProvider } from './identity-provider.js'
import { type MailCatcher, startMailCatcher } from './mail-catcher/index.js'
import { startStripeEmulator } from './stripe-emulator/index.js'

export interface Demo {
  config: AppConfig
  /** The demo's SMTP catcher (when SMTP_URL is unset), shown at /dev/mail. */
  mailCatcher: MailCatcher | null
  close(): Promise<void>
}

/**
 * Starts a loopback stand-in for whatever of OAuth and Stripe is not configured, and returns
 * the config pointing the real SDKs at them. Never loaded in production.
 */
export async function startDemo (config: Config, appUrl: () => string | undefined): Promise<Demo> {
  const closers: Array<() => Promise<void>> = []
  let { oauth, stripe, smtpUrl } = config
  let stripeDashboardUrl: string | null = null
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
    stripeDashboardUrl = `${emulator.url}/payments`
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
    config: { ...config, oauth, stripe, smtpUrl, adminEmails, demo: { stripeDashboardUrl, mailUrl: mailCatcher === null ? null : '/dev/mail' } },
    mailCatcher,
    close: async () => { await Promise.all(closers.map(async (close) => { await close() })) }
  }
}
