import { Eta } from 'eta'
import type { OutboxRow } from '../../db/types.js'
import { receiptMoney } from '../../http/order-money.js'
import { viewContext } from '../../http/plugins/view.js'
import { viewsDir } from '../../paths.js'
import { type BuyerMailDeps, createBuyerMail } from './compose-buyers.js'
import type { Composed, LinkMaker, StoreFacts } from './composed.js'
import { headerText, type Outbox } from './outbox.js'

export type { Composed } from './composed.js'

/** What composing needs from the rest of the app: fresh links and the store's name and policy. */
export interface ComposeDeps {
  rows: Outbox
  publicUrl: string
  links: LinkMaker
  store(): Promise<StoreFacts>
  /** The provider's invoice page for the order, when it has one (purchase's invoices). */
  invoiceUrl(orderId: string): Promise<string | null>
  buyers: Omit<BuyerMailDeps, 'publicUrl' | 'links' | 'receiptFacts'>
}

const dateFormat = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'long', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: 'UTC', timeZoneName: 'short' })

/** The text part tidied: the templates' control lines leave blank lines and trailing spaces behind. */
function plain (text: string): string {
  return text.replace(/[ \t]+$/gm, '').replace(/\n{3,}/g, '\n\n').trim() + '\n'
}

/** The receipt, refund notice and links mails, rendered from views/mail/ as they go out (fresh links). */
export function createComposer (deps: ComposeDeps) {
  const { rows, links, publicUrl } = deps
  const html = new Eta({ views: viewsDir, autoEscape: true, cache: true })
  const text = new Eta({ views: viewsDir, autoEscape: false, autoTrim: false, cache: true })
  const linksUrl = `${publicUrl}/links`

  function render (template: string, data: Record<string, unknown>): Composed {
    const subject = headerText(data.subject as string)
    const all = { ...viewContext, ...data, subject }
    return { subject, html: html.render(`mail/${template}.eta`, all), text: plain(text.render(`mail/${template}-text.eta`, all)) }
  }

  const buyerMail = createBuyerMail({ ...deps.buyers, publicUrl, links, receiptFacts: rows.receiptFacts }, render)

  /** A receipt for a paid order, with a fresh download link. */
  async function receipt (row: OutboxRow, now: Date, store: Awaited<ReturnType<ComposeDeps['store']>>): Promise<Composed | string> {
    const order = row.order_id === null ? undefined : await rows.receiptFacts(row.order_id)
    if (order === undefined) return 'the order no longer exists'
    if (order.status !== 'paid') return `the order is ${order.status}`
    const link = links.create(order.id, now)
    return render('receipt', {
      subject: `Your receipt from ${store.name}: ${order.title}`,
      store,
      order: { id: order.id, title: order.title, amount: viewContext.formatPrice(order.amount_cents, order.currency), paidAt: order.paid_at === null ? null : dateFormat.format(new Date(order.paid_at)) },
      money: receiptMoney({ ...order, paid_cents: order.amount_cents }),
      invoiceUrl: order.invoice_id === null ? null : await deps.invoiceUrl(order.id),
      link: { url: link.url, expires: dateFormat.format(link.expiresAt) },
      days: links.days,
      linksUrl
    })
  }

  /** The notice of a refund that returned money, as it was when the refund was made. */
  async function refund (row: OutboxRow, store: Awaited<ReturnType<ComposeDeps['store']>>): Promise<Composed | string> {
    const order = row.order_id === null ? undefined : await rows.receiptFacts(row.order_id)
    if (order === undefined) return 'the order no longer exists'
    const amount = viewContext.formatAmount(row.refund_cents ?? 0, order.currency)
    // As it was when the refund was made: a later refund has its own notice.
    const access = row.access_kept === null ? null : row.access_kept === 1 ? 'kept' : 'ended'
    return render('refund', {
      subject: `Your refund from ${store.name}: ${order.title}`,
      store,
      order: { id: order.id, title: order.title, amount: viewContext.formatAmount(order.amount_cents, order.currency), url: `${publicUrl}/content/${encodeURIComponent(order.slug)}` },
      refund: { amount, total: viewContext.formatAmount(order.refunded_cents, order.currency), access }
    })
  }

  /** Fresh links for every paid purchase of the address. */
  async function linksMail (row: OutboxRow, now: Date, store: Awaited<ReturnType<ComposeDeps['store']>>): Promise<Composed | string> {
    const items = (await rows.paidOrdersOf(row.to_address)).map((order) => ({
      id: order.id, title: order.title, amount: viewContext.formatPrice(order.amount_cents, order.currency), url: links.create(order.id, now).url
    }))
    if (items.length === 0) return 'no paid purchases for this address any more'
    const expires = dateFormat.format(links.create(items[0]!.id, now).expiresAt)
    return render('links', { subject: `Your download links from ${store.name}`, store, items, days: links.days, expires, linksUrl })
  }

  /** A mail's content, rendered as it goes out (fresh links); a string: nothing to send, and why. */
  return async function compose (row: OutboxRow, now: Date): Promise<Composed | string> {
    const store = await deps.store()
    if (row.kind === 'receipt') return await receipt(row, now, store)
    if (row.kind === 'refund') return await refund(row, store)
    if (row.kind === 'sign-in') return await buyerMail.signIn(row, now, store)
    if (row.kind === 'free') return await buyerMail.free(row, now, store)
    if (row.kind === 'update' || row.kind === 'message') return await buyerMail.broadcast(row, now, store)
    return await linksMail(row, now, store)
  }
}
