// The pages a person's browser opens, served over plain http on loopback (no certificate
// warning): the hosted checkout page, like Mollie's test mode (paid, failed, canceled, expired),
// and a small dashboard of payments with a refund button. Own origin, own CSS, no scripts.
import { join } from 'node:path'
import formbody from '@fastify/formbody'
import view from '@fastify/view'
import { Eta } from 'eta'
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import { viewsDir } from '../../paths.js'
import { formatAmount, parseAmount } from '../../lib/money.js'
import { escapeHtml } from '../html.js'
import { MollieError } from './errors.js'
import { type MolliePayment, type Outcome, OUTCOMES, type Payments } from './state.js'

export interface PagesOptions {
  payments: Payments
  log: (msg: string) => void
}

type Form = Record<string, string | string[] | undefined>
type IdParams = { Params: { id: string } }

function field (form: Form | undefined, name: string): string | undefined {
  const value = form?.[name]
  return Array.isArray(value) ? value[value.length - 1] : value
}

/** An amount on a stored payment as a person reads it: "€10.00", "¥500". */
const shown = (amount: { currency: string, value: string }): string => {
  const minor = parseAmount(amount.value, amount.currency)
  return minor === undefined ? `${amount.currency} ${amount.value}` : formatAmount(minor, amount.currency)
}

/**
 * The path the pages are mounted under: '' on the emulator's own server, `/dev/mollie` inside the
 * demo app (so a browser stays on the app's origin). Every link and redirect starts with it.
 */
function under (reply: FastifyReply): string {
  return reply.server.prefix
}

// What each template reads (views/dev/mollie-emulator/).
interface MessageView { title: string, message: string, links: Array<{ href: string, label: string }> }
interface CheckoutView { title: string, description: string, price: string, method: string, action: string, outcomes: Array<{ value: Outcome, label: string, hint: string }> }
interface DashboardRowView {
  id: string
  created: string
  description: string
  amount: string
  status: string
  refunded: string
  checkoutPath: string | null
  refundPath: string | null
  remaining: string
}
interface DashboardView { title: string, rows: DashboardRowView[], error: string | undefined }
type Views = { 'message.eta': MessageView, 'checkout.eta': CheckoutView, 'dashboard.eta': DashboardView }

async function page<T extends keyof Views> (reply: FastifyReply, status: number, template: T, data: Views[T]): Promise<FastifyReply> {
  const html = await reply.viewAsync(template, data)
  return await reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(html)
}

async function messagePage (reply: FastifyReply, status: number, title: string, message: string, links: MessageView['links'] = []): Promise<FastifyReply> {
  return await page(reply, status, 'message.eta', { title, message, links })
}

const OUTCOME_LABELS: Record<Outcome, { label: string, hint: string }> = {
  paid: { label: 'Paid', hint: 'The payment succeeds.' },
  failed: { label: 'Failed', hint: 'The bank refuses the payment.' },
  canceled: { label: 'Canceled', hint: 'The buyer gives up.' },
  expired: { label: 'Expired', hint: 'The buyer never finishes.' }
}

const METHOD_NAMES: Record<string, string> = { ideal: 'iDEAL', bancontact: 'Bancontact', creditcard: 'Card', paypal: 'PayPal', banktransfer: 'Bank transfer' }

async function checkoutPage (reply: FastifyReply, payment: MolliePayment): Promise<FastifyReply> {
  const price = shown(payment.amount)
  return await page(reply, 200, 'checkout.eta', {
    title: `Pay ${price}`,
    description: payment.description,
    price,
    method: payment.method === null ? 'Any method' : (METHOD_NAMES[payment.method] ?? payment.method),
    action: `${under(reply)}/checkout/${encodeURIComponent(payment.id)}`,
    outcomes: OUTCOMES.map((value) => ({ value, ...OUTCOME_LABELS[value] }))
  })
}

async function notOpenPage (reply: FastifyReply, payment: MolliePayment): Promise<FastifyReply> {
  return await messagePage(reply, 410, 'This payment is no longer open', `Its status is ${payment.status}.`, [
    { href: payment.redirectUrl, label: 'Back to the shop' }
  ])
}

async function missingPage (reply: FastifyReply, id: string): Promise<FastifyReply> {
  return await messagePage(reply, 404, 'Payment not found', `There is no payment with id ${id}.`, [{ href: `${under(reply)}/dashboard/payments`, label: 'Payments' }])
}

function dashboardRows (base: string, payments: Payments): DashboardRowView[] {
  return payments.list().map((p) => {
    const refunded = p.amountRefunded === undefined ? 0 : (parseAmount(p.amountRefunded.value, p.amountRefunded.currency) ?? 0)
    const refundable = p.status === 'paid' && p.amountRemaining !== undefined && (parseAmount(p.amountRemaining.value, p.amountRemaining.currency) ?? 0) > 0
    return {
      id: p.id,
      created: new Date(p.createdAt).toLocaleString('en-GB', { timeZone: 'UTC' }) + ' UTC',
      description: p.description,
      amount: shown(p.amount),
      status: p.status,
      refunded: refunded > 0 && p.amountRefunded !== undefined ? shown(p.amountRefunded) : '—',
      checkoutPath: p.status === 'open' ? `${base}/checkout/${encodeURIComponent(p.id)}` : null,
      refundPath: refundable ? `${base}/dashboard/payments/${encodeURIComponent(p.id)}/refund` : null,
      remaining: p.amountRemaining?.value ?? ''
    }
  })
}

async function dashboardPage (reply: FastifyReply, payments: Payments, status = 200, error?: string): Promise<FastifyReply> {
  return await page(reply, status, 'dashboard.eta', { title: 'Payments (Mollie emulator)', rows: dashboardRows(under(reply), payments), error })
}

const pages: FastifyPluginAsync<PagesOptions> = async (app, { payments, log }) => {
  await app.register(formbody)
  await app.register(view, {
    engine: { eta: new Eta({ views: join(viewsDir, 'dev', 'mollie-emulator'), autoEscape: true, autoTrim: false, escapeFunction: escapeHtml, cache: true }) },
    root: join(viewsDir, 'dev', 'mollie-emulator'),
    production: true
  })

  app.get('/', async (_request, reply) => await reply.redirect(`${under(reply)}/dashboard/payments`, 303))

  app.get<IdParams>('/checkout/:id', async (request, reply) => {
    const payment = payments.payments.get(request.params.id)
    if (payment === undefined) return await missingPage(reply, request.params.id)
    if (payment.status !== 'open') return await notOpenPage(reply, payment)
    return await checkoutPage(reply, payment)
  })

  // The buyer's choice: the status changes, the webhook is called (first attempt awaited, so the
  // shop usually knows before the buyer lands), then back to redirectUrl exactly as given.
  app.post<IdParams & { Body: Form | undefined }>('/checkout/:id', async (request, reply) => {
    const payment = payments.payments.get(request.params.id)
    if (payment === undefined) return await missingPage(reply, request.params.id)
    if (payment.status !== 'open') return await notOpenPage(reply, payment)
    const choice = field(request.body, 'status')
    const outcome = OUTCOMES.find((o) => o === choice)
    if (outcome === undefined) return await messagePage(reply, 400, 'Choose a status', 'Pick one of the buttons on the checkout page.', [{ href: `${under(reply)}/checkout/${encodeURIComponent(payment.id)}`, label: '← Back to the checkout' }])
    try {
      await payments.complete(payment.id, outcome)
    } catch (err) {
      log(`mollie-emulator: webhook error: ${String(err)}`)
    }
    return await reply.redirect(payment.redirectUrl, 303)
  })

  app.get('/dashboard/payments', async (_request, reply) => await dashboardPage(reply, payments))
  // _links.dashboard of a payment: its row in the list.
  app.get<IdParams>('/dashboard/payments/:id', async (request, reply) =>
    await reply.redirect(`${under(reply)}/dashboard/payments#${encodeURIComponent(request.params.id)}`, 303))

  app.post<IdParams & { Body: Form | undefined }>('/dashboard/payments/:id/refund', async (request, reply) => {
    const payment = payments.payments.get(request.params.id)
    if (payment === undefined) return await missingPage(reply, request.params.id)
    try {
      const typed = (field(request.body, 'amount') ?? '').trim()
      const { delivered } = payments.refundValue(payment.id, typed === '' ? undefined : typed)
      await delivered
    } catch (err) {
      const message = err instanceof MollieError ? `${err.detail}${err.field === 'amount.value' ? ` (${refundHint(payment)})` : ''}.` : String(err)
      return await dashboardPage(reply, payments, 400, `Could not refund ${payment.id}: ${message}`)
    }
    return await reply.redirect(`${under(reply)}/dashboard/payments`, 303)
  })

  app.setNotFoundHandler(async (request, reply) =>
    await messagePage(reply, 404, 'Not found', `Nothing at ${request.url.split('?')[0]}.`, [{ href: `${under(reply)}/dashboard/payments`, label: 'Payments' }]))
}

/** What can still be refunded, said with the decimals the amount needs. */
function refundHint (payment: MolliePayment): string {
  const remaining = payment.amountRemaining ?? payment.amount
  return `at most ${remaining.value} ${remaining.currency}, written with the currency's decimals`
}

export default pages
