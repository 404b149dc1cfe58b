import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { Eta } from 'eta'
import fp from 'fastify-plugin'
import nodemailer from 'nodemailer'
import type { Address } from 'nodemailer/lib/mailer/index.js'
import type { OutboxRow } from '../../db/types.js'
import { viewsDir } from '../../paths.js'
import { createOutbox, headerText, type Outbox } from './outbox.js'
import { viewContext } from '../../http/plugins/view.js'

/** What POST /links did; the page answers the same whatever it was (no enumeration). */
export type LinksOutcome = 'queued' | 'none' | 'limited' | 'off'

export interface Mailer {
  /** False without SMTP_URL outside demo mode: no mail is queued at all. */
  enabled: boolean
  rows: Outbox
  /** A receipt again (the admin's resend): the new row's id, or null when there is nobody to send it to. */
  queueReceipt(orderId: string): Promise<number | null>
  /** Fresh links for every paid purchase of the address, at most LINKS_PER_HOUR mails an hour. */
  queueLinks(email: string): Promise<LinksOutcome>
  /** Look for due mail now (after an enqueue) rather than at the next poll. */
  kick(): void
}

declare module 'fastify' {
  interface FastifyInstance {
    outbox: Mailer
  }
}

const POLL_MS = 1000
/**
 * How long an instance holds a mail it is sending (the lease). It outlasts any one attempt (the
 * transport gives up within a minute), so no other instance sends the mail meanwhile; a crashed
 * instance's mail waits this long, unless the instance restarts first and frees it.
 */
export const LEASE_MS = 5 * 60_000
export const LINKS_PER_HOUR = 3
const HOUR_MS = 60 * 60 * 1000

const dateFormat = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'long', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: 'UTC', timeZoneName: 'short' })

interface Composed { subject: string, html: string, text: string }

/** The text part tidied: the templates' control lines leave blank lines and trailing spaces behind. */
function plain (text: string): string {
  return text.replace(/[ \t]+$/gm, '').replace(/\n{3,}/g, '\n\n').trim() + '\n'
}

/**
 * The outbox's sender. Receipts are written with the grant (orders.onGranted), in its
 * transaction; this plugin delivers due rows through nodemailer, marks them sent, and on failure
 * retries with backoff (5 s, 30 s, 2 min, 10 min, then every 30 min). Rows live in the database,
 * so a restart or a SIGKILL loses none: a crash between the SMTP answer and the commit sends that
 * one mail twice, never zero times. Several instances share the rows: each claims a row (a lease,
 * LEASE_MS) before sending it, so no two send the same mail while the lease holds.
 */
export default fp(async function mailer (app) {
  const { config, database, orders, links, settings, log } = app
  const rows = createOutbox({ db: database.db, runner: database.runner })
  const enabled = config.smtpUrl !== null
  if (!enabled) {
    log.warn('SMTP_URL is not set: receipts and emailed links are off (no mail is queued). Set SMTP_URL=smtp://user:pass@host:port to send them.')
  }

  const html = new Eta({ views: viewsDir, autoEscape: true, cache: true })
  const text = new Eta({ views: viewsDir, autoEscape: false, autoTrim: false, cache: true })
  const linksUrl = `${config.publicUrl}/links`

  async function storeData (): Promise<{ name: string, contactEmail: string, refundPolicy: string }> {
    const store = await settings.fresh()
    return { name: store.storeName, contactEmail: store.contactEmail, refundPolicy: store.refundPolicy }
  }

  function render (template: string, data: Record<string, unknown>): Composed {
    const subject = headerText(data.subject as string)
    const all = { ...viewContext, ...data, subject }
    return { subject, html: html.render(`mail/${template}.eta`, all), text: plain(text.render(`mail/${template}-text.eta`, all)) }
  }

  /** A mail's content, rendered as it goes out (fresh links); null with a reason: nothing to send. */
  async function compose (row: OutboxRow, now: Date): Promise<Composed | string> {
    const store = await storeData()
    if (row.kind === 'receipt') {
      const order = row.order_id === null ? undefined : await rows.receiptFacts(row.order_id)
      if (order === undefined) return 'the order no longer exists'
      if (order.status !== 'paid') return `the order is ${order.status}`
      const link = links.create(order.id, now)
      return render('receipt', {
        subject: `Your receipt from ${store.name}: ${order.title}`,
        store,
        order: { id: order.id, title: order.title, amount: viewContext.formatPrice(order.amount_cents, order.currency), paidAt: order.paid_at === null ? null : dateFormat.format(new Date(order.paid_at)) },
        link: { url: link.url, expires: dateFormat.format(link.expiresAt) },
        days: links.days,
        linksUrl
      })
    }
    if (row.kind === 'refund') {
      const order = row.order_id === null ? undefined : await rows.receiptFacts(row.order_id)
      if (order === undefined) return 'the order no longer exists'
      const amount = viewContext.formatAmount(row.refund_cents ?? 0, order.currency)
      // As it was when the refund was made: a later refund has its own notice.
      const access = row.access_kept === null ? null : row.access_kept === 1 ? 'kept' : 'ended'
      return render('refund', {
        subject: `Your refund from ${store.name}: ${order.title}`,
        store,
        order: { id: order.id, title: order.title, amount: viewContext.formatAmount(order.amount_cents, order.currency), url: `${config.publicUrl}/content/${encodeURIComponent(order.slug)}` },
        refund: { amount, total: viewContext.formatAmount(order.refunded_cents, order.currency), access }
      })
    }
    const items = (await rows.paidOrdersOf(row.to_address)).map((order) => ({
      id: order.id, title: order.title, amount: viewContext.formatPrice(order.amount_cents, order.currency), url: links.create(order.id, now).url
    }))
    if (items.length === 0) return 'no paid purchases for this address any more'
    const expires = dateFormat.format(links.create(items[0]!.id, now).expiresAt)
    return render('links', { subject: `Your download links from ${store.name}`, store, items, days: links.days, expires, linksUrl })
  }

  function sender (): string | Address {
    if (config.mailFrom !== null) return config.mailFrom
    return { name: headerText(settings.current().storeName), address: `no-reply@${new URL(config.publicUrl).hostname}` }
  }

  // Short timeouts: a relay that does not answer is a failed attempt retried later, not a sender stuck for minutes.
  const transport = enabled
    ? nodemailer.createTransport(config.smtpUrl!, { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 } as never)
    : null

  async function deliver (row: OutboxRow): Promise<void> {
    const now = new Date()
    let mail: Composed | string
    try {
      mail = await compose(row, now)
    } catch (error) {
      // A template or data fault: kept as a failure so it is retried after a fix, never dropped.
      const next = await rows.failed(row.id, row.attempts + 1, (error as Error).message)
      log.error({ err: error, outboxId: row.id, orderId: row.order_id, kind: row.kind, nextAttemptAt: next }, 'mail could not be composed; will retry')
      return
    }
    if (typeof mail === 'string') {
      await rows.sent(row.id, null, now, `not sent: ${mail}`)
      log.info({ outboxId: row.id, orderId: row.order_id, kind: row.kind, reason: mail }, 'mail not sent: nothing to send')
      return
    }
    try {
      const info = await transport!.sendMail({ from: sender(), to: headerText(row.to_address), subject: mail.subject, html: mail.html, text: mail.text })
      await rows.sent(row.id, mail)
      log.info({ outboxId: row.id, orderId: row.order_id, kind: row.kind, attempts: row.attempts + 1, messageId: info.messageId }, 'mail sent')
    } catch (error) {
      const attempts = row.attempts + 1
      // The error's message and code only: never the transport's options (SMTP_URL holds the password).
      const err = error as NodeJS.ErrnoException & { responseCode?: number }
      const message = `${err.code ?? 'ERROR'}: ${err.message}`
      const next = await rows.failed(row.id, attempts, message)
      log.warn({ outboxId: row.id, orderId: row.order_id, kind: row.kind, attempts, nextAttemptAt: next.toISOString(), error: message, responseCode: err.responseCode }, 'mail not sent; will retry')
    }
  }

  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | null = null
  let again = false

  // This instance (host and port: a restart on the same port frees what a crashed run held) and
  // this run of it.
  const instance = `${hostname()}:${config.port}`
  const holder = `${instance}/${process.pid}.${randomBytes(4).toString('hex')}`

  async function drain (): Promise<void> {
    for (;;) {
      again = false
      if (stopped) return
      const row = await rows.claim(holder, LEASE_MS)
      if (row === undefined) {
        if (!again) return
        continue
      }
      await deliver(row)
    }
  }

  function schedule (): void {
    if (stopped) return
    clearTimeout(timer)
    timer = setTimeout(kick, POLL_MS)
    timer.unref()
  }

  function kick (): void {
    if (!enabled || stopped) return
    if (running !== null) { again = true; return }
    running = drain()
      .catch((error: unknown) => { log.error({ err: error }, 'the mail sender failed; it tries again shortly') })
      .finally(() => { running = null; schedule() })
  }

  if (enabled) {
    orders.onGranted(async (order, session) => {
      const to = await rows.recipientOf(order, session.customerEmail)
      if (to === null) {
        log.warn({ orderId: order.id }, 'paid order has no email address: no receipt is sent')
        return
      }
      await rows.add('receipt', to, order.id)
      // After the grant's commit: the row is visible to the sender by then.
      setImmediate(kick)
    })
  }

  if (enabled) {
    // Every refund that returned money, from the desk or learnt from the provider, in its transaction.
    orders.onRefunded(async (order, refund) => {
      const to = await rows.recipientOf(order, null)
      if (to === null) {
        log.warn({ orderId: order.id }, 'refunded order has no email address: no refund notice is sent')
        return
      }
      await rows.add('refund', to, order.id, new Date(), { cents: refund.amountCents, accessKept: refund.accessKept })
      setImmediate(kick)
    })
  }

  app.decorate('outbox', {
    enabled,
    rows,
    async queueReceipt (orderId: string): Promise<number | null> {
      if (!enabled) return null
      const order = await orders.find(orderId)
      if (order === undefined) return null
      const to = await rows.recipientOf(order, null)
      if (to === null) return null
      const id = await rows.add('receipt', to, orderId)
      setImmediate(kick)
      return id
    },
    async queueLinks (email: string): Promise<LinksOutcome> {
      if (!enabled) return 'off'
      return await database.runner.transaction(async (): Promise<LinksOutcome> => {
        if ((await rows.paidOrdersOf(email)).length === 0) return 'none'
        if (await rows.countSince('links', email, new Date(Date.now() - HOUR_MS)) >= LINKS_PER_HOUR) return 'limited'
        await rows.add('links', email, null)
        setImmediate(kick)
        return 'queued'
      })
    },
    kick
  } satisfies Mailer)

  app.addHook('onReady', async () => {
    if (!enabled) return
    const waiting = await rows.retryAllNow()
    if (waiting > 0) log.info({ waiting }, 'mail left waiting by an earlier run: sending now')
    kick()
  })

  // Listening on the port proves an earlier run on it is gone: the mail it held when it died is
  // sent now rather than when its lease runs out.
  app.addHook('onListen', async () => {
    if (!enabled || config.port === 0) return
    const released = await rows.releaseClaimsOf(instance, holder)
    if (released > 0) {
      log.info({ released }, 'mail an earlier run of this instance was sending when it stopped: sending now')
      kick()
    }
  })

  app.addHook('onClose', async () => {
    stopped = true
    clearTimeout(timer)
    // A send under way finishes (or fails and is rescheduled) before the database closes.
    await running
    transport?.close()
  })
}, { name: 'mailer', dependencies: ['database', 'purchase', 'links', 'settings'] })
