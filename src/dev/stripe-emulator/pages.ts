// The emulator's human-facing pages: the hosted checkout page a buyer is sent to, and the small
// payments dashboard (expire, settle a bank transfer, refund) that demo mode links to. The
// emulator runs on its own origin, so the templates carry their own CSS and no scripts.
import { join } from 'node:path'
import formbody from '@fastify/formbody'
import view from '@fastify/view'
import { Eta } from 'eta'
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import { viewsDir } from '../../paths.js'
import { formatAmount, parseAmount } from '../../services/money.js'
import { escapeHtml } from '../html.js'
import type { CheckoutSession, Payments, PaymentMethod, SessionState } from './state.js'

export interface PagesOptions {
  payments: Payments
  log: (msg: string) => void
}

type Form = Record<string, string | string[] | undefined>
type IdParams = { Params: { id: string } }

/** A form field as the last of its values, like URLSearchParams read into an object. */
function field (form: Form | undefined, name: string): string | undefined {
  const value = form?.[name]
  return Array.isArray(value) ? value[value.length - 1] : value
}

const successUrlFor = (session: CheckoutSession): string =>
  session.success_url.replaceAll('{CHECKOUT_SESSION_ID}', session.id)

// What each template reads (views/dev/stripe-emulator/).
interface MessageView { title: string, message: string, links: Array<{ href: string, label: string }> }
interface CheckoutView {
  title: string
  price: string
  productName: string
  cancelUrl: string
  payPath: string
  email: string
  emailLocked: boolean
  bank: boolean
  error: string | undefined
  cardNumber: string
  expiry: string
  cvc: string
  name: string
}
interface DashboardRowView {
  id: string
  created: string
  productName: string
  amount: string
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
type Views = { 'message.eta': MessageView, 'checkout.eta': CheckoutView, 'dashboard.eta': DashboardView }

async function page<T extends keyof Views> (reply: FastifyReply, status: number, template: T, data: Views[T]): Promise<FastifyReply> {
  const html = await reply.viewAsync(template, data)
  return await reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(html)
}

async function messagePage (reply: FastifyReply, status: number, title: string, message: string, links: Array<{ href: string, label: string }> = []): Promise<FastifyReply> {
  return await page(reply, status, 'message.eta', { title, message, links })
}

/** The checkout form, empty or as the buyer sent it with what went wrong. */
async function checkoutPage (reply: FastifyReply, status: number, session: CheckoutSession, state: SessionState, error?: string, form?: Form): Promise<FastifyReply> {
  const price = formatAmount(session.amount_total, session.currency)
  return await page(reply, status, 'checkout.eta', {
    title: `Pay ${price}`,
    price,
    productName: state.productName,
    cancelUrl: session.cancel_url,
    payPath: `/pay/${encodeURIComponent(session.id)}`,
    email: session.customer_email ?? field(form, 'email') ?? '',
    emailLocked: session.customer_email !== null,
    bank: field(form, 'method') === 'bank_transfer',
    error,
    cardNumber: field(form, 'card_number') ?? '',
    expiry: field(form, 'expiry') ?? '',
    cvc: field(form, 'cvc') ?? '',
    name: field(form, 'name') ?? ''
  })
}

/** Why a submitted checkout form cannot be paid (the test cards decline), or null when it can. */
function refusal (method: PaymentMethod, email: string, cardNumber: string): { status: number, message: string } | null {
  if (email === '') return { status: 400, message: 'Enter your email address.' }
  if (method !== 'card') return null
  const number = cardNumber.replace(/[\s-]/g, '')
  if (number === '4000000000009995') return { status: 402, message: 'Your card was declined: insufficient funds.' }
  if (number === '4000000000000002') return { status: 402, message: 'Your card was declined.' }
  if (number !== '4242424242424242') return { status: 400, message: 'Use a test card: 4242 4242 4242 4242' }
  return null
}

function dashboardRows (payments: Payments): DashboardRowView[] {
  return payments.list().map(({ session: s, state }) => {
    const fullyRefunded = state.amountRefunded >= s.amount_total && s.amount_total > 0
    const action = (verb: string): string => `/payments/${encodeURIComponent(s.id)}/${verb}`
    return {
      id: s.id,
      created: new Date(s.created * 1000).toLocaleString('en-US'),
      productName: state.productName,
      amount: formatAmount(s.amount_total, s.currency),
      status: s.status,
      payment: fullyRefunded ? 'refunded' : s.payment_status,
      awaitingSettlement: state.awaitingSettlement,
      refunded: state.amountRefunded > 0 ? formatAmount(state.amountRefunded, s.currency) : '—',
      open: s.status === 'open',
      refundable: s.payment_status === 'paid' && state.amountRefunded < s.amount_total,
      paths: { pay: `/pay/${encodeURIComponent(s.id)}`, expire: action('expire'), settle: action('settle'), refund: action('refund') }
    }
  })
}

async function dashboardPage (reply: FastifyReply, payments: Payments, status = 200, error?: string): Promise<FastifyReply> {
  return await page(reply, status, 'dashboard.eta', { title: 'Payments (Stripe emulator)', rows: dashboardRows(payments), error })
}

/** A refund amount typed on the dashboard ("1.50"), in minor units; undefined (empty) refunds the rest. */
function refundAmount (input: string, currency: string): number | undefined {
  const trimmed = input.trim()
  if (trimmed === '') return undefined
  const amount = parseAmount(trimmed, currency)
  if (amount === undefined) throw new Error(`Invalid amount "${trimmed}"`)
  return amount
}

const pages: FastifyPluginAsync<PagesOptions> = async (app, { payments, log }) => {
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
    return await checkoutPage(reply, 200, found.session, found.state)
  })

  app.post<IdParams & { Body: Form | undefined }>('/pay/:id', async (request, reply) => {
    const found = payments.find(request.params.id)
    if (found === undefined) return await missingSession(reply, request.params.id)
    const { session, state } = found
    if (session.status !== 'open') return await closedSession(reply, session)
    const form = request.body ?? {}
    const method: PaymentMethod = field(form, 'method') === 'bank_transfer' ? 'bank_transfer' : 'card'
    const email = session.customer_email ?? (field(form, 'email') ?? '').trim()
    const refused = refusal(method, email, field(form, 'card_number') ?? '')
    if (refused !== null) return await checkoutPage(reply, refused.status, session, state, refused.message, form)
    const name = field(form, 'name')
    const delivered = payments.complete(session.id, method, { email, ...(name ? { name } : {}) })
    // Redirect first: a real browser lands on the success page before (or while)
    // the webhook arrives, and the app must cope with that ordering.
    delivered.catch((err: unknown) => { log(`stripe-emulator: delivery error: ${String(err)}`) })
    return await reply.redirect(successUrlFor(session), 303)
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
    await messagePage(reply, 404, 'Not found', `Nothing at ${request.url.split('?')[0]}.`, [{ href: '/payments', label: 'Payments' }]))
}

/** Runs a dashboard action and goes back to the dashboard; a refusal (not paid, too much) is shown above the table. */
async function act (reply: FastifyReply, payments: Payments, id: string, run: (session: CheckoutSession) => Promise<void>): Promise<FastifyReply> {
  try {
    const session = payments.sessions.get(id)
    if (session === undefined) throw new Error(`No such checkout session: ${id}`)
    await run(session)
    return await reply.redirect('/payments', 303)
  } catch (err) {
    return await dashboardPage(reply, payments, 400, err instanceof Error ? err.message : String(err))
  }
}

async function missingSession (reply: FastifyReply, id: string): Promise<FastifyReply> {
  return await messagePage(reply, 404, 'Checkout session not found', `There is no checkout session with id ${id}.`)
}

async function closedSession (reply: FastifyReply, session: CheckoutSession): Promise<FastifyReply> {
  const links = session.status === 'complete'
    ? [{ href: successUrlFor(session), label: 'Continue to your order' }]
    : [{ href: session.cancel_url, label: '← Back' }]
  return await messagePage(reply, 410, 'This checkout session is no longer active', `Its status is ${session.status}.`, links)
}

export default pages
