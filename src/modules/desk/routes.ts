import { Readable } from 'node:stream'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify'
import type { OrderStatus } from '../../db/types.js'
import { HttpError, statusOfKind } from '../../http/errors.js'
import { normalizeEmail } from '../../lib/email.js'
import { DomainError } from '../../lib/errors.js'
import { formatAmount, priceInput, toDecimal } from '../../lib/money.js'
import { salesChart } from './sales-chart.js'
import { ORDER_STATUSES, type OrderDetail, type OrderFilter, parseCursor } from './sales.js'
import { parseDay } from './tax-report.js'

interface ListQuery { status?: OrderStatus, q?: string, before?: string, after?: string }
const listQuery = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: [...ORDER_STATUSES, ''] },
    q: { type: 'string', maxLength: 200 },
    before: { type: 'string', maxLength: 200 },
    after: { type: 'string', maxLength: 200 }
  }
} as const
const orderParams = { type: 'object', properties: { id: { type: 'string', pattern: '^[\\w-]{1,100}$' } }, required: ['id'] } as const
interface RefundBody { amount?: string, refunded?: string }
const refundBody = {
  type: 'object',
  properties: { amount: { type: 'string', maxLength: 50 }, refunded: { type: 'string', maxLength: 50 } }
} as const
const NO_ORDER = 'There is no order with this number. It may have been removed by a flush of development data.'

/** A report's `from` or `to` day: absent (open), or a real YYYY-MM-DD; anything else is a 400. */
function dayOf (value: string | undefined, name: 'from' | 'to'): Date | undefined {
  if (value === undefined || value === '') return undefined
  const day = parseDay(value)
  if (day === undefined) throw new HttpError(400, `"${name}" must be a day written YYYY-MM-DD, like 2026-01-31. Nothing was exported.`)
  return day
}

/** Query string of the list's filters (for the pager and the CSV link). */
function filterQuery (filter: OrderFilter, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams()
  if (filter.status !== undefined) params.set('status', filter.status)
  if (filter.q !== undefined && filter.q !== '') params.set('q', filter.q)
  for (const [k, v] of Object.entries(extra)) params.set(k, v)
  const text = params.toString()
  return text === '' ? '' : `?${text}`
}

function filterOf (query: ListQuery): OrderFilter {
  return {
    ...(query.status === undefined || (query.status as string) === '' ? {} : { status: query.status }),
    ...(query.q === undefined || query.q.trim() === '' ? {} : { q: query.q.trim() })
  }
}

/**
 * The money side of the creator's desk: dashboard, orders (list, page, refund, CSV) and
 * customers. Registered inside the admin routes, so their admin guard covers every route here.
 */
const adminSalesRoutes: FastifyPluginAsync = async (app) => {
  listRoutes(app)
  orderRoutes(app)
}
export default adminSalesRoutes

/** The dashboard, the order list (and its CSV) and the customers. */
function listRoutes (app: FastifyInstance): void {
  const { config, sales } = app

  app.get('/', async (_request, reply) => {
    const dashboard = await sales.dashboard()
    return await reply.page('pages/admin-dashboard.eta', { title: 'Dashboard', dashboard, chart: salesChart(dashboard), flushable: !config.production })
  })

  if (!config.production) {
    app.get('/flush', async (_request, reply) => await reply.page('pages/admin-flush.eta', { title: 'Flush development data' }))
  }

  app.get<{ Querystring: ListQuery }>('/orders', { schema: { querystring: listQuery } }, async (request, reply) => {
    const filter = filterOf(request.query)
    const before = parseCursor(request.query.before)
    const after = before === undefined ? parseCursor(request.query.after) : undefined
    const page = await sales.orders(filter, { before, after })
    return await reply.page('pages/admin-orders.eta', {
      title: 'Orders',
      page,
      filter,
      statuses: ORDER_STATUSES,
      csvHref: `/admin/orders.csv${filterQuery(filter)}`,
      newerHref: page.newer === null ? null : `/admin/orders${filterQuery(filter, { after: page.newer })}`,
      olderHref: page.older === null ? null : `/admin/orders${filterQuery(filter, { before: page.older })}`
    })
  })

  app.get<{ Querystring: ListQuery }>('/orders.csv', { schema: { querystring: listQuery } }, async (request, reply) => {
    const rows = sales.csv(filterOf(request.query))
    return await reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', 'attachment; filename="orders.csv"')
      .header('cache-control', 'no-store')
      .send(Readable.from(rows))
  })

  app.get<{ Querystring: { from?: string, to?: string } }>('/tax.csv', {
    schema: { querystring: { type: 'object', properties: { from: { type: 'string', maxLength: 40 }, to: { type: 'string', maxLength: 40 } } } }
  }, async (request, reply) => {
    const range = { from: dayOf(request.query.from, 'from'), to: dayOf(request.query.to, 'to') }
    if (range.from !== undefined && range.to !== undefined && range.to < range.from) {
      throw new HttpError(400, 'The report\'s "to" day comes before its "from" day. Nothing was exported.')
    }
    const name = `tax${request.query.from === undefined ? '' : `-from-${request.query.from}`}${request.query.to === undefined ? '' : `-to-${request.query.to}`}.csv`
    return await reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${name}"`)
      .header('cache-control', 'no-store')
      .send(Readable.from(sales.taxCsv({ ...(range.from === undefined ? {} : { from: range.from }), ...(range.to === undefined ? {} : { to: range.to }) })))
  })

  app.get<{ Querystring: { page?: number } }>('/customers', {
    schema: { querystring: { type: 'object', properties: { page: { type: 'integer', minimum: 1, maximum: 1_000_000 } } } }
  }, async (request, reply) => {
    const page = await sales.customers(request.query.page ?? 1)
    // Consent and unsubscribed, from the audience (addresses as normalizeEmail gives them).
    const statuses = await app.audience.statusOf(page.customers.flatMap((c) => c.email === null ? [] : [c.email]))
    const audience = page.customers.map((c) => (c.email === null ? undefined : statuses.get(normalizeEmail(c.email.trim()))) ?? { consent: false, unsubscribed: false })
    return await reply.page('pages/admin-customers.eta', { title: 'Customers', page, currency: config.currency, audience })
  })
}

/** One order: its page, its refund (confirm page and refund) and its receipt sent again. */
function orderRoutes (app: FastifyInstance): void {
  const { config, sales, refunds, outbox } = app

  /** The order's receipts: how many went out and how many wait (the resend button's neighbour). */
  async function receiptsOf (orderId: string): Promise<{ enabled: boolean, sent: number, waiting: number, days: number }> {
    const rows = (await outbox.rows.forOrder(orderId)).filter((row) => row.kind === 'receipt')
    return { enabled: outbox.enabled, days: config.downloadLinkDays, sent: rows.filter((row) => row.sent_at !== null && row.subject !== null).length, waiting: rows.filter((row) => row.sent_at === null).length }
  }

  async function orderPage (reply: FastifyReply, detail: OrderDetail, status = 200, problem?: string): Promise<FastifyReply> {
    return await reply.page('pages/admin-order.eta', {
      title: `Order ${detail.order.id.slice(0, 8)}`,
      ...detail,
      refundable: (detail.order.status === 'paid' || detail.order.status === 'review') && detail.order.refunded_cents < detail.order.paid_cents,
      problem: problem ?? null,
      receipts: await receiptsOf(detail.order.id)
    }, { status })
  }

  app.get<{ Params: { id: string } }>('/orders/:id', { schema: { params: orderParams } }, async (request, reply) => {
    const detail = await sales.order(request.params.id)
    if (detail === undefined) throw new HttpError(404, NO_ORDER)
    return await orderPage(reply, detail)
  })

  /** The refund's confirm page: what was paid and refunded, the amount to refund, and why not when it cannot be. */
  async function refundPage (reply: FastifyReply, id: string, status = 200, problem: string | null = null, typed?: string): Promise<FastifyReply> {
    const detail = await sales.order(id)
    if (detail === undefined) throw new HttpError(404, NO_ORDER)
    const quote = await refunds.quote(id)
    return await reply.page('pages/admin-refund.eta', {
      title: `Refund order ${detail.order.id.slice(0, 8)}`,
      order: detail.order,
      quote,
      amount: typed ?? toDecimal(quote.remainingCents, quote.currency),
      refunded: toDecimal(quote.refundedCents, quote.currency),
      input: priceInput(quote.currency),
      // A bad amount is the field's problem; anything else (not refundable, the provider) the page's.
      problem: status === 400 ? null : problem,
      amountProblem: status === 400 ? problem : null,
      notify: outbox.enabled
    }, { status })
  }

  app.get<{ Params: { id: string } }>('/orders/:id/refund', { schema: { params: orderParams } }, async (request, reply) =>
    await refundPage(reply, request.params.id))

  app.post<{ Params: { id: string }, Body: RefundBody }>('/orders/:id/refund', { schema: { params: orderParams, body: refundBody } }, async (request, reply) => {
    const { id } = request.params
    const { amount, refunded } = request.body ?? {}
    let result
    try {
      result = await refunds.refund(id, { amount, refunded })
    } catch (error) {
      // A bad amount (400), not refundable (409) or the provider refused (502): the confirm page, unchanged, says why.
      if (!(error instanceof DomainError) || !['invalid', 'conflict', 'upstream'].includes(error.kind)) throw error
      request.log.warn({ orderId: id, err: { message: error.message, cause: error.cause } }, 'refund refused or failed')
      return await refundPage(reply, id, statusOfKind(error.kind), error.message, amount)
    }
    request.flash('info', refundNotice(result, (await sales.order(id))!.order))
    return await reply.redirect(`/admin/orders/${encodeURIComponent(id)}`, 303)
  })

  // A receipt again, through the outbox like the first (fresh link, retried until it goes out).
  app.post<{ Params: { id: string } }>('/orders/:id/receipt', { schema: { params: orderParams } }, async (request, reply) => {
    const { id } = request.params
    const detail = await sales.order(id)
    if (detail === undefined) throw new HttpError(404, NO_ORDER)
    if (!outbox.enabled) {
      return await orderPage(reply, detail, 409, 'Receipts are off because SMTP_URL is not set, so nothing was sent. Set SMTP_URL and restart to send receipts.')
    }
    if (detail.order.status !== 'paid') {
      return await orderPage(reply, detail, 409, `This order is ${detail.order.status}, so it has no receipt to send: its download link would not work.`)
    }
    const queued = await outbox.queueReceipt(id)
    if (queued === null) return await orderPage(reply, detail, 409, 'This order has no email address to send a receipt to.')
    request.log.info({ orderId: id, outboxId: queued }, 'receipt resent by the admin')
    request.flash('info', `A new receipt with a fresh download link is on its way to ${detail.order.buyer_email ?? 'the buyer'}.`)
    return await reply.redirect(`/admin/orders/${encodeURIComponent(id)}`, 303)
  })
}

type RefundResult = Awaited<ReturnType<FastifyInstance['refunds']['refund']>>

/** What the admin is told after a refund: what moved, to whom, and whether the buyer keeps the item. */
function refundNotice (result: RefundResult, order: OrderDetail['order']): string {
  const buyer = order.buyer_email ?? 'the buyer'
  if (result.outcome === 'already_refunded') {
    return result.refundedCents >= order.paid_cents ? 'This order was already refunded; nothing changed.' : 'This refund was already made; nothing changed.'
  }
  if (result.outcome === 'partially_refunded') {
    return `Refunded ${formatAmount(result.amountCents, order.currency)} to ${buyer}. They keep the item; ${formatAmount(order.paid_cents - result.refundedCents, order.currency)} of the order is left to refund.`
  }
  return `Refunded ${formatAmount(result.amountCents, order.currency)} to ${buyer}. ${result.keptBy === null ? 'Their access to the item was removed.' : 'They keep the item through another paid order of it.'}`
}
