// npm run doctor's checks of the payment provider: the key (one cheap authenticated call) and,
// for Stripe, the webhook endpoint for PUBLIC_URL/webhooks/stripe with the events the app handles.
import { createMollieClient, MollieApiError } from '@mollie/api-client'
import Stripe from 'stripe'
import type { Config, StripeConfig } from '../../src/config.js'
import { stripeOptions } from '../../src/modules/purchase/providers/stripe.js'
import { type Report, reason } from './report.js'

/** The events src/modules/purchase/providers/stripe.ts acts on (test/app/doctor.test.ts keeps the two lists equal). */
export const STRIPE_EVENTS = [
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'checkout.session.expired',
  'charge.refunded'
] as const

/** The SDK as the app makes it, STRIPE_API_URL honoured; no retries, so a dead host is said at once. */
function stripeClient (config: StripeConfig): Stripe {
  return new Stripe(config.secretKey, stripeOptions(config, { maxNetworkRetries: 0, timeout: 10_000, appInfo: { name: 'pdf-marketplace doctor' } }))
}

function stripeRefusal (error: unknown, config: StripeConfig, report: Report): void {
  if (error instanceof Stripe.errors.StripeAuthenticationError) return report.problem('STRIPE_SECRET_KEY', 'Stripe refused the key: copy the secret key from the Dashboard (Developers > API keys)')
  if (error instanceof Stripe.errors.StripePermissionError) return report.problem('STRIPE_SECRET_KEY', 'the key may not read webhook endpoints: a restricted key needs "Webhook Endpoints: Read"')
  if (error instanceof Stripe.errors.StripeConnectionError) {
    return config.apiUrl === undefined
      ? report.problem('STRIPE_SECRET_KEY', `could not reach api.stripe.com to check the key: ${reason(error)}`)
      : report.problem('STRIPE_API_URL', `could not reach ${config.apiUrl}: ${reason(error)}`)
  }
  report.problem('STRIPE_SECRET_KEY', `Stripe did not answer the check: ${reason(error)}`)
}

export async function checkStripe (config: Config, stripeConfig: StripeConfig, options: { createWebhook: boolean, webhook: boolean }, report: Report): Promise<void> {
  const stripe = stripeClient(stripeConfig)
  const mode = stripeConfig.secretKey.includes('_live_') ? 'live' : 'test'
  if (config.production && mode === 'test') report.warn('STRIPE_SECRET_KEY is a test key in production: no real payment will be taken')
  const url = `${config.publicUrl}/webhooks/stripe`
  let endpoints: Stripe.WebhookEndpoint[]
  try {
    endpoints = await stripe.webhookEndpoints.list({ limit: 100 }).autoPagingToArray({ limit: 1000 })
  } catch (error) {
    return stripeRefusal(error, stripeConfig, report)
  }
  // PUBLIC_URL was refused: the endpoint's URL is unknown, the key alone is checked.
  if (!options.webhook) return report.ok(`payments: Stripe accepted the key (${mode} mode)`)
  const endpoint = endpoints.find((each) => each.url === url)
  if (endpoint === undefined) {
    if (options.createWebhook) return await createWebhook(stripe, url, report)
    return report.problem('STRIPE_WEBHOOK_SECRET', `Stripe has no webhook endpoint for ${url}. Create one (Dashboard > Developers > Webhooks > Add endpoint) with that URL and the events ${STRIPE_EVENTS.join(', ')}, and set STRIPE_WEBHOOK_SECRET to its signing secret; or run: npm run doctor -- --create-webhook`)
  }
  if (options.createWebhook) report.notice(`--create-webhook: Stripe already has the endpoint ${endpoint.id} for ${url}; nothing was created.`)
  if (endpoint.status !== 'enabled') return report.problem('STRIPE_WEBHOOK_SECRET', `the webhook endpoint ${endpoint.id} for ${url} is ${endpoint.status}: enable it in the Dashboard (Developers > Webhooks)`)
  const missing = endpoint.enabled_events.includes('*') ? [] : STRIPE_EVENTS.filter((event) => !endpoint.enabled_events.includes(event))
  if (missing.length > 0) return report.problem('STRIPE_WEBHOOK_SECRET', `the webhook endpoint ${endpoint.id} for ${url} does not send ${missing.join(', ')}: add them to it in the Dashboard (Developers > Webhooks)`)
  report.ok(`payments: Stripe accepted the key (${mode} mode); webhook endpoint ${endpoint.id} for ${url} sends the ${STRIPE_EVENTS.length} events`)
}

/** --create-webhook: the endpoint, through Stripe's API; its signing secret is shown once, here. */
async function createWebhook (stripe: Stripe, url: string, report: Report): Promise<void> {
  let created: Stripe.WebhookEndpoint
  try {
    created = await stripe.webhookEndpoints.create({ url, enabled_events: [...STRIPE_EVENTS], description: 'PDF Market (npm run doctor --create-webhook)' })
  } catch (error) {
    return report.problem('STRIPE_WEBHOOK_SECRET', `could not create the webhook endpoint for ${url}: ${reason(error)}`)
  }
  report.createdWebhook = true
  report.notice(`Created the webhook endpoint ${created.id} for ${url} with the events ${STRIPE_EVENTS.join(', ')}.`)
  report.notice(`Its signing secret (shown only now): ${created.secret ?? '(not returned)'}`)
  report.problem('STRIPE_WEBHOOK_SECRET', 'set it to the signing secret above, then restart the app')
}

export async function checkMollie (config: Config, report: Report): Promise<void> {
  const mollie = config.mollie
  if (mollie === null) return
  const client = createMollieClient({ apiKey: mollie.apiKey, ...(mollie.apiUrl === undefined ? {} : { apiEndpoint: mollie.apiUrl }), versionStrings: 'pdf-marketplace-doctor/0.1' })
  const mode = mollie.apiKey.startsWith('live_') ? 'live' : 'test'
  if (config.production && mode === 'test') report.warn('MOLLIE_API_KEY is a test key in production: no real payment will be taken')
  try {
    // A payment that does not exist: 404 once the key is accepted, 401 when it is not. Reads nothing.
    await client.payments.get('tr_doctorCheck0')
    report.ok(`payments: Mollie accepted the key (${mode} mode)`)
  } catch (error) {
    const status = error instanceof MollieApiError ? error.statusCode : undefined
    if (status === 404) return report.ok(`payments: Mollie accepted the key (${mode} mode); webhooks go to ${config.publicUrl}/webhooks/mollie with each payment`)
    if (status === 401 || status === 403) return report.problem('MOLLIE_API_KEY', 'Mollie refused the key: copy the API key from the Dashboard (Developers > API keys)')
    report.problem(mollie.apiUrl === undefined ? 'MOLLIE_API_KEY' : 'MOLLIE_API_URL', `could not check the key with ${mollie.apiUrl ?? 'api.mollie.com'}: ${reason(error)}`)
  }
}
