import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import fp from 'fastify-plugin'
import nodemailer from 'nodemailer'
import type { Address } from 'nodemailer/lib/mailer/index.js'
import { createComposer } from './compose.js'
import { createOutbox, headerText, type Outbox } from './outbox.js'
import { createMailQueue, type LinksOutcome } from './receipts.js'
import { createSender } from './sender.js'

export { LINKS_PER_HOUR, type LinksOutcome } from './receipts.js'
export { LEASE_MS } from './sender.js'

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

/**
 * The outbox: mail is written as a row in the transaction of what caused it (receipts.ts) and
 * sent from there (sender.ts), composed as it goes out (compose.ts). Rows live in the database,
 * so a restart or a SIGKILL loses none; several instances share them, each claiming a row before
 * sending it.
 */
export default fp(async function mailer (app) {
  const { config, database, orders, links, settings, log } = app
  const rows = createOutbox({ db: database.db, runner: database.runner })
  const enabled = config.smtpUrl !== null
  if (!enabled) {
    log.warn('SMTP_URL is not set: receipts and emailed links are off (no mail is queued). Set SMTP_URL=smtp://user:pass@host:port to send them.')
    app.decorate('outbox', { enabled, rows, queueReceipt: async () => null, queueLinks: async () => 'off', kick: () => {} } satisfies Mailer)
    return
  }

  const compose = createComposer({
    rows,
    links,
    publicUrl: config.publicUrl,
    store: async () => {
      const store = await settings.fresh()
      return { name: store.storeName, contactEmail: store.contactEmail, refundPolicy: store.refundPolicy }
    }
  })
  const from = (): string | Address => config.mailFrom ?? { name: headerText(settings.current().storeName), address: `no-reply@${new URL(config.publicUrl).hostname}` }
  // Short timeouts: a relay that does not answer is a failed attempt retried later, not a sender stuck for minutes.
  const transport = nodemailer.createTransport(config.smtpUrl!, { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 } as never)
  // This instance (host and port: a restart on the same port frees what a crashed run held) and
  // this run of it.
  const instance = `${hostname()}:${config.port}`
  const holder = `${instance}/${process.pid}.${randomBytes(4).toString('hex')}`
  const sender = createSender({ rows, transport, log, compose, from, holder })
  const queue = createMailQueue({ rows, runner: database.runner, orders, log, kick: sender.kick })
  queue.listen()

  app.decorate('outbox', { enabled, rows, queueReceipt: queue.queueReceipt, queueLinks: queue.queueLinks, kick: sender.kick } satisfies Mailer)

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
}, { name: 'mailer', dependencies: ['database', 'purchase', 'delivery', 'settings'] })
