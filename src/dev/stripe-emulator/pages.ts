// The emulator's human-facing pages: the hosted checkout page a buyer is sent to (with its
// promotion code field), a Payment Link's URL and its confirmation page, and the small payments
// dashboard (expire, settle a bank transfer, refund) that demo mode links to. The emulator runs on
// its own origin, so the templates carry their own CSS and no scripts: every action is a form post.
import { join } from 'node:path'
import formbody from '@fastify/formbody'
import view from '@fastify/view'
import { Eta } from 'eta'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify'
import { viewsDir } from '../../paths.js'
import { formatAmount, parseAmount } from '../../lib/money.js'
import { escapeHtml } from '../html.js'
import { needsAddress } from './buyer.js'
import type { Catalog } from './catalog.js'
import { buyerInput, type CheckoutErrors, type CheckoutView, checkoutView, field } from './checkout-view.js'
import { invoiceRoutes } from './invoice-page.js'
import type { Invoices } from './invoices.js'
import type { CheckoutSession, Payments, PaymentMethod, SessionState } from './state.js'

export interface PagesOptions {
  payments: Payments
  catalog: Catalog
  invoices: Invoices
  log: (msg: string) => void
}

type Form = Record<string, string | string[] | undefined>
type IdParams = { Params: { id: string } }

/**
 * Where the buyer goes once the session is complete: its success_url, or for a Payment Link with
 * Stripe's default `after_completion` (no success_url), the emulator's own confirmation page.
 */
const successUrlFor = (reply: FastifyReply, session: CheckoutSession): string =>
  session.success_url === null
    ? `${under(reply)}/pay/${encodeURIComponent(session.id)}/confirmation`
    : session.success_url.replaceAll('{CHECKOUT_SESSION_ID}', session.id)

/**
 * The path the pages are mounted under: '' on the emulator's own server, `/dev/stripe` inside the
 * demo app (so a browser stays on the app's origin). Every link and redirect starts with it.
 */
function under (reply: FastifyReply): string {
  return reply.server.prefix
}

// What each template reads (views/dev/stripe-emulator/).
interface MessageView { title: string, message: string, links: Array<{ href: string, label: string }> }
interface DashboardRowView {
  id: string
  created: string
  productName: string
  /** The Payment Link the session came from, if any. */
  link: string | null
  amount: string
  /** The discount taken off, when a promotion code was applied. */
  discount: string | null
  /** With automatic tax: the tax and the buyer's country ("tax €1.90 · DE"), or why none. */
  tax: string | null
  status: string
  /** The payment pill: unpaid, paid or refunded. */
  payment: string
  awaitingSettlement: boolean
  refunded: string
  open: boolean
  refundable: boolean
  paths: { pay: string, expire: string, settle: string, refund: string }
}
interface DashboardView { title: string, rows: DashboardRowView[], error: string | undefined }
interface ConfirmationView { title: string, amount: string, productName: string, email: string | null, pending: boolean, discount: string | null, message: string | null }
type Views = { 'message.eta': MessageView, 'checkout.eta': CheckoutView, 'dashboard.eta': DashboardView, 'confirmation.eta': ConfirmationView }

async function page<T extends keyof Views> (reply: FastifyReply, status: number, template: T, data: Views[T]): Promise<FastifyReply> {
  const html = await reply.viewAsync(template, data)
  return await reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(html)
}

async function messagePage (reply: FastifyReply, status: number, title: string, message: string, links: Array<{ href: string, label: string }> = []): Promise<FastifyReply> {
  return await page(reply, status, 'message.eta', { title, message, links })
}

/** The checkout form, empty or as the buyer sent it with what went wrong. */
async function checkoutPage (reply: FastifyReply, payments: Payments, status: number, session: CheckoutSession, state: SessionState, errors: CheckoutErrors = {}, form?: Form): Promise<FastifyReply> {
  return await page(reply, status, 'checkout.eta', checkoutView(under(reply), session, state, payments.reverseCharged(state), errors, form))
}

/** Why a submitted checkout form cannot be paid (the test cards decline), or null when it can. */
function refusal (method: PaymentMethod, email: string, cardNumber: string, free: boolean): { status: number, message: string } | null {
  if (email === '') return { status: 400, message: 'Enter your email address.' }
  if (method !== 'card' || free) return null
  const number = cardNumber.replace(/[\s-]/g, '')
  if (number === '4000000000009995') return { status: 402, message: 'Your card was declined: insufficient funds.' }
  if (number === '4000000000000002') return { status: 402, message: 'Your card was declined.' }
  if (number !== '4242424242424242') return { status: 400, message: 'Use a test card: 4242 4242 4242 4242' }
  return null
}

function dashboardRows (base: string, payments: Payments): DashboardRowView[] {
  return payments.list().map(({ session: s, state }) => {
    const fullyRefunded = state.amountRefunded >= s.amount_total && s.amount_total > 0
    const action = (verb: string): string => `${base}/payments/${encodeURIComponent(s.id)}/${verb}`
    return {
      id: s.id,
      created: new Date(s.created * 1000).toLocaleString('en-US'),
      productName: state.productName,
      link: s.payment_link,
      amount: formatAmount(s.amount_total, s.currency),
      discount: s.total_details.amount_discount > 0 ? `−${formatAmount(s.total_details.amount_discount, s.currency)} (${state.promotionCode ?? 'discount'})` : null,
      tax: s.automatic_tax.enabled
        ? `tax ${formatAmount(s.total_details.amount_tax, s.currency)} · ${state.buyer?.address.country ?? 'no address yet'}${s.customer_details?.tax_exempt === 'reverse' ? ' · reverse charge' : ''}`
        : null,
      status: s.status,
      payment: fullyRefunded ? 'refunded' : s.payment_status,
      awaitingSettlement: state.awaitingSettlement,
      refunded: state.amountRefunded > 0 ? formatAmount(state.amountRefunded, s.currency) : '—',
      open: s.status === 'open',
      refundable: s.payment_status === 'paid' && state.amountRefunded < s.amount_total,
      paths: { pay: `${base}/pay/${encodeURIComponent(s.id)}`, expire: action('expire'), settle: action('settle'), refund: action('refund') }
    }
  })
}

async function dashboardPage (reply: FastifyReply, payments: Payments, status = 200, error?: string): Promise<FastifyReply> {
  return await page(reply, status, 'dashboard.eta', { title: 'Payments (Stripe emulator)', rows: dashboardRows(under(reply), payments), error })
}

/** A refund amount typed on the dashboard ("1.50"), in minor units; undefined (empty) refunds the rest. */
function refundAmount (input: string, currency: string): number | undefined {
  const trimmed = input.trim()
  if (trimmed === '') return undefined
  const amount = parseAmount(trimmed, currency)
  if (amount === undefined) throw new Error(`Invalid amount "${trimmed}"`)
  return amount
}

/** The checkout page's forms: pay, apply or remove a promotion code, update the address (and tax). */
function checkoutFormRoutes (app: FastifyInstance, payments: Payments, log: (msg: string) => void): void {
  app.post<IdParams & { Body: Form | undefined }>('/pay/:id', async (request, reply) => {
    const found = payments.find(request.params.id)
    if (found === undefined) return await missingSession(reply, request.params.id)
    const { session, state } = found
    if (session.status !== 'open') return await closedSession(reply, session)
    const form = request.body ?? {}
    const method: PaymentMethod = field(form, 'method') === 'bank_transfer' ? 'bank_transfer' : 'card'
    const email = session.customer_email ?? (field(form, 'email') ?? '').trim()
    const refused = refusal(method, email, field(form, 'card_number') ?? '', session.amount_total === 0)
    if (refused !== null) return await checkoutPage(reply, payments, refused.status, session, state, { payment: refused.message }, form)
    // Paying recomputes the tax from the address as posted.
    if (needsAddress(session)) {
      const given = payments.setBuyer(session.id, buyerInput(form))
      if (!given.ok) return await checkoutPage(reply, payments, 400, session, state, given.field === 'tax_id' ? { taxId: given.message } : { country: given.message }, form)
    }
    const name = field(form, 'name')
    const delivered = payments.complete(session.id, method, { email, ...(name ? { name } : {}) })
    // Redirect first: a real browser lands on the success page before (or while)
    // the webhook arrives, and the app must cope with that ordering.
    delivered.catch((err: unknown) => { log(`stripe-emulator: delivery error: ${String(err)}`) })
    return await reply.redirect(successUrlFor(reply, session), 303)
  })

  // The "Add promotion code" field: applies (or removes) a code and shows the new totals.
  app.post<IdParams & { Body: Form | undefined }>('/pay/:id/promotion', async (request, reply) => {
    const found = payments.find(request.params.id)
    if (found === undefined) return await missingSession(reply, request.params.id)
    const { session, state } = found
    if (session.status !== 'open') return await closedSession(reply, session)
    const form = request.body ?? {}
    if (field(form, 'remove') !== undefined) {
      payments.removePromotionCode(session.id)
      return await reply.redirect(`${under(reply)}/pay/${encodeURIComponent(session.id)}`, 303)
    }
    const code = (field(form, 'promotion_code') ?? '').trim()
    const applied = code === '' ? { ok: false as const, message: 'Enter a promotion code.' } : payments.applyPromotionCode(session.id, code)
    if (!applied.ok) return await checkoutPage(reply, payments, 400, session, state, { promotion: applied.message }, form)
    return await reply.redirect(`${under(reply)}/pay/${encodeURIComponent(session.id)}`, 303)
  })

  // The address (and business) fields' "Update" button: recomputes the tax and shows the page again,
  // keeping what was typed; a missing country or a malformed tax id is shown next to its field.
  app.post<IdParams & { Body: Form | undefined }>('/pay/:id/address', async (request, reply) => {
    const found = payments.find(request.params.id)
    if (found === undefined) return await missingSession(reply, request.params.id)
    const { session, state } = found
    if (session.status !== 'open') return await closedSession(reply, session)
    const form = request.body ?? {}
    const given = payments.setBuyer(session.id, buyerInput(form))
    if (!given.ok) return await checkoutPage(reply, payments, 400, session, state, given.field === 'tax_id' ? { taxId: given.message } : { country: given.message }, form)
    return await checkoutPage(reply, payments, 200, session, state, {}, form)
  })
}

const pages: FastifyPluginAsync<PagesOptions> = async (app, { payments, catalog, invoices, log }) => {
  await app.register(formbody)
  await app.register(view, {
    engine: { eta: new Eta({ views: join(viewsDir, 'dev', 'stripe-emulator'), autoEscape: true, autoTrim: false, escapeFunction: escapeHtml, cache: true }) },
    root: join(viewsDir, 'dev', 'stripe-emulator'),
    production: true
  })

  app.get<IdParams>('/pay/:id', async (request, reply) => {
    const found = payments.find(request.params.id)
    if (found === undefined) return await missingSession(reply, request.params.id)
    if (found.session.status !== 'open') return await closedSession(reply, found.session)
    return await checkoutPage(reply, payments, 200, found.session, found.state)
  })

  checkoutFormRoutes(app, payments, log)
  invoiceRoutes(app, invoices)

  // Where a completed Payment Link session without a redirect ends: Stripe's hosted confirmation.
  app.get<IdParams>('/pay/:id/confirmation', async (request, reply) => {
    const found = payments.find(request.params.id)
    if (found === undefined) return await missingSession(reply, request.params.id)
    const { session, state } = found
    if (session.status !== 'complete') return await reply.redirect(`${under(reply)}/pay/${encodeURIComponent(session.id)}`, 303)
    const link = session.payment_link === null ? undefined : catalog.paymentLinks.get(session.payment_link)
    const pending = session.payment_status === 'unpaid'
    return await page(reply, 200, 'confirmation.eta', {
      title: pending ? 'Thanks for your order' : 'Thanks for your payment',
      amount: formatAmount(session.amount_total, session.currency),
      productName: state.productName,
      email: session.customer_details?.email ?? null,
      pending,
      discount: session.total_details.amount_discount > 0 ? formatAmount(session.total_details.amount_discount, session.currency) : null,
      message: link?.after_completion.type === 'hosted_confirmation' ? link.after_completion.hosted_confirmation.custom_message : null
    })
  })

  // A Payment Link's URL: every visit opens a new Checkout Session for the link's price.
  app.get<IdParams>('/b/:id', async (request, reply) => {
    const opened = payments.createForLink(request.params.id)
    if ('refused' in opened) {
      return opened.refused === 'missing'
        ? await messagePage(reply, 404, 'Link not found', 'This payment link does not exist. Check the address you were given.')
        : await messagePage(reply, 410, 'This link is no longer available', 'The seller has deactivated this payment link. Contact them for a new one.')
    }
    return await reply.redirect(`${under(reply)}/pay/${encodeURIComponent(opened.session.id)}`, 303)
  })

  app.get('/payments', async (_request, reply) => await dashboardPage(reply, payments))

  // The dashboard's buttons.
  type Action = IdParams & { Body: Form | undefined }
  app.post<Action>('/payments/:id/refund', async (request, reply) =>
    await act(reply, payments, request.params.id, async (s) => { await payments.refund(s.id, refundAmount(field(request.body, 'amount') ?? '', s.currency)) }))
  app.post<Action>('/payments/:id/expire', async (request, reply) =>
    await act(reply, payments, request.params.id, async (s) => { await payments.expire(s.id) }))
  app.post<Action>('/payments/:id/settle', async (request, reply) =>
    await act(reply, payments, request.params.id, async (s) => { await payments.settle(s.id, field(request.body, 'outcome') === 'failed' ? 'failed' : 'succeeded') }))

  app.setNotFoundHandler(async (request, reply) =>
    await messagePage(reply, 404, 'Not found', `Nothing at ${request.url.split('?')[0]}.`, [{ href: `${under(reply)}/payments`, label: 'Payments' }]))
}

/** Runs a dashboard action and goes back to the dashboard; a refusal (not paid, too much) is shown above the table. */
async function act (reply: FastifyReply, payments: Payments, id: string, run: (session: CheckoutSession) => Promise<void>): Promise<FastifyReply> {
  try {
    const session = payments.sessions.get(id)
    if (session === undefined) throw new Error(`No such checkout session: ${id}`)
    await run(session)
    return await reply.redirect(`${under(reply)}/payments`, 303)
  } catch (err) {
    return await dashboardPage(reply, payments, 400, err instanceof Error ? err.message : String(err))
  }
}

async function missingSession (reply: FastifyReply, id: string): Promise<FastifyReply> {
  return await messagePage(reply, 404, 'Checkout session not found', `There is no checkout session with id ${id}.`)
}

async function closedSession (reply: FastifyReply, session: CheckoutSession): Promise<FastifyReply> {
  const links = session.status === 'complete'
    ? [{ href: successUrlFor(reply, session), label: 'Continue to your order' }]
    : session.cancel_url === null ? [] : [{ href: session.cancel_url, label: '← Back' }]
  return await messagePage(reply, 410, 'This checkout session is no longer active', `Its status is ${session.status}.`, links)
}

export default pages
