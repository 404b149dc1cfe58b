import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import fp from 'fastify-plugin'
import nodemailer from 'nodemailer'
import { DomainError } from '../../lib/errors.js'
import type { Address } from 'nodemailer/lib/mailer/index.js'
import { type BroadcastInput, type BroadcastProgress, createBroadcasts } from './broadcasts.js'
import { createComposer } from './compose.js'
import { createOutbox, headerText, type Outbox } from './outbox.js'
import { createMailQueue, type LinksOutcome } from './receipts.js'
import { createSender } from './sender.js'

export { LINKS_PER_HOUR, type LinksOutcome } from './receipts.js'
export { LEASE_MS } from './sender.js'
export type { BroadcastInput, BroadcastProgress } from './broadcasts.js'

/** Free items asked for by one address an hour (POST /content/<slug>/free). */
export const FREE_PER_HOUR = 3

export interface Mailer {
  /** False without SMTP_URL outside demo mode: no mail is queued at all. */
  enabled: boolean
  rows: Outbox
  /** A receipt again (the admin's resend): the new row's id, or null when there is nobody to send it to. */
  queueReceipt(orderId: string): Promise<number | null>
  /** Fresh links for every paid purchase of the address, at most LINKS_PER_HOUR mails an hour. */
  queueLinks(email: string): Promise<LinksOutcome>
  /** A sign-in link (the token's id: the mail is composed as it goes out). */
  queueSignIn(email: string, tokenId: string): Promise<void>
  /** A free item's link, at most FREE_PER_HOUR mails an hour per address. */
  queueFree(email: string, orderId: string): Promise<'queued' | 'limited'>
  /** An update or message to an item's buyers: every recipient's row in one transaction. */
  broadcast(input: BroadcastInput): Promise<{ id: number, recipients: number }>
  /** Who a broadcast of the item would reach now. */
  recipients(contentId: number): Promise<string[]>
  /** The item's broadcasts, newest first, with how far each has got. */
  progress(contentId: number): Promise<BroadcastProgress[]>
  /** Look for due mail now (after an enqueue) rather than at the next poll. */
  kick(): void
}

declare module 'fastify' {
  interface FastifyInstance {
    outbox: Mailer
  }
}

/**
 * The outbox: mail is written as a row in the transaction of what caused it (receipts.ts) and
 * sent from there (sender.ts), composed as it goes out (compose.ts). Rows live in the database,
 * so a restart or a SIGKILL loses none; several instances share them, each claiming a row before
 * sending it.
 */
export default fp(async function mailer (app) {
  const { config, database, orders, links, settings, log, audience, emailSignIn } = app
  const rows = createOutbox({ db: database.db, runner: database.runner })
  const broadcasts = createBroadcasts({ db: database.db, runner: database.runner, perMinute: config.bulkMailPerMinute })
  const enabled = config.smtpUrl !== null
  if (!enabled) {
    log.warn('SMTP_URL is not set: receipts and emailed links are off (no mail is queued). Set SMTP_URL=smtp://user:pass@host:port to send them.')
    const off = async (): Promise<never> => { throw new DomainError('conflict', 'Mail is off because SMTP_URL is not set, so nothing was sent. Set SMTP_URL and restart to send mail.') }
    app.decorate('outbox', {
      enabled, rows, queueReceipt: async () => null, queueLinks: async () => 'off', queueSignIn: off, queueFree: async () => 'limited', broadcast: off, recipients: broadcasts.recipients, progress: broadcasts.progress, kick: () => {}
    } satisfies Mailer)
    return
  }

  const compose = createComposer({
    rows,
    links,
    publicUrl: config.publicUrl,
    store: async () => {
      const store = await settings.fresh()
      return {
        name: store.storeName,
        contactEmail: store.contactEmail,
        refundPolicy: store.refundPolicy,
        seller: { name: store.tax.sellerName, address: store.tax.sellerAddress, taxId: store.tax.sellerTaxId }
      }
    },
    invoiceUrl: app.invoices.url,
    buyers: { broadcasts, audience, signInLink: async (id, now) => await emailSignIn.linkOf(id, now) }
  })
  const from = (): string | Address => config.mailFrom ?? { name: headerText(settings.current().storeName), address: `no-reply@${new URL(config.publicUrl).hostname}` }
  // Short timeouts: a relay that does not answer is a failed attempt retried later, not a sender stuck for minutes.
  // DKIM (when configured) signs every mail here, at the transport: receipts and updates alike.
  const transport = nodemailer.createTransport(config.smtpUrl!, {
    connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000, ...(config.dkim === null ? {} : { dkim: config.dkim })
  } as never)
  // This instance (host and port: a restart on the same port frees what a crashed run held) and
  // this run of it.
  const instance = `${hostname()}:${config.port}`
  const holder = `${instance}/${process.pid}.${randomBytes(4).toString('hex')}`
  const sender = createSender({ rows, transport, log, compose, from, holder })
  const queue = createMailQueue({ rows, runner: database.runner, orders, log, kick: sender.kick })
  queue.listen()

  app.decorate('outbox', {
    enabled,
    rows,
    queueReceipt: queue.queueReceipt,
    queueLinks: queue.queueLinks,
    async queueSignIn (email, tokenId) {
      await rows.addMail('sign-in', email, { ref: tokenId })
      setImmediate(sender.kick)
    },
    async queueFree (email, orderId) {
      const queued = await database.runner.transaction(async () => {
        if (await rows.countSince('free', email, new Date(Date.now() - 3600_000)) >= FREE_PER_HOUR) return 'limited' as const
        await rows.addMail('free', email, { orderId })
        return 'queued' as const
      })
      setImmediate(sender.kick)
      return queued
    },
    async broadcast (input) {
      const done = await broadcasts.enqueue(input)
      log.info({ broadcastId: done.id, contentId: input.contentId, kind: input.kind, recipients: done.recipients }, 'mail to buyers queued')
      setImmediate(sender.kick)
      return done
    },
    recipients: broadcasts.recipients,
    progress: broadcasts.progress,
    kick: sender.kick
  } satisfies Mailer)

  app.addHook('onReady', async () => {
    const waiting = await rows.retryAllNow()
    if (waiting > 0) log.info({ waiting }, 'mail left waiting by an earlier run: sending now')
    sender.kick()
  })

  // Listening on the port proves an earlier run on it is gone: the mail it held when it died is
  // sent now rather than when its lease runs out.
  app.addHook('onListen', async () => {
    if (config.port === 0) return
    const released = await rows.releaseClaimsOf(instance, holder)
    if (released > 0) {
      log.info({ released }, 'mail an earlier run of this instance was sending when it stopped: sending now')
      sender.kick()
    }
  })

  // A send under way finishes (or fails and is rescheduled) before the database closes.
  app.addHook('onClose', sender.stop)
}, { name: 'mailer', dependencies: ['database', 'purchase', 'delivery', 'settings', 'users', 'audience'] })
