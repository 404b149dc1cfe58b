import type { FastifyBaseLogger } from 'fastify'
import type { Transporter } from 'nodemailer'
import type { Address } from 'nodemailer/lib/mailer/index.js'
import type { OutboxRow } from '../../db/types.js'
import type { Composed } from './composed.js'
import { headerText, type Outbox } from './outbox.js'

const POLL_MS = 1000
/**
 * How long an instance holds a mail it is sending (the lease). It outlasts any one attempt (the
 * transport gives up within a minute), so no other instance sends the mail meanwhile; a crashed
 * instance's mail waits this long, unless the instance restarts first and frees it.
 */
export const LEASE_MS = 5 * 60_000

export interface SenderDeps {
  rows: Outbox
  transport: Transporter
  log: FastifyBaseLogger
  compose(row: OutboxRow, now: Date): Promise<Composed | string>
  from(): string | Address
  /** Who holds a claimed row: this instance and this run of it. */
  holder: string
}

/**
 * The Message-ID of an outbox row: the same on every attempt, so a mail sent twice (a crash
 * between the SMTP answer and marking it sent) carries one id, which clients and providers use
 * to drop the copy. In the sender's domain, as RFC 5322 asks.
 */
export function messageIdOf (row: Pick<OutboxRow, 'id' | 'created_at'>, from: string | Address): string {
  const address = (typeof from === 'string' ? (/<([^>]+)>/.exec(from)?.[1] ?? from) : from.address) ?? ''
  const domain = address.slice(address.lastIndexOf('@') + 1) || 'localhost'
  return `<outbox.${row.id}.${Date.parse(row.created_at).toString(36)}@${domain}>`
}

/**
 * Delivers due rows through nodemailer, marks them sent, and on failure retries with backoff
 * (5 s, 30 s, 2 min, 10 min, then every 30 min). A crash between the SMTP answer and the commit
 * sends that one mail twice, never zero times. Each row is claimed (a lease, LEASE_MS) before
 * it is sent, so no two instances send the same mail while the lease holds.
 */
export function createSender (deps: SenderDeps) {
  const { rows, transport, log, compose, holder } = deps
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | null = null
  let again = false

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
      const from = deps.from()
      const info = await transport.sendMail({
        from,
        to: headerText(row.to_address),
        subject: mail.subject,
        // Every mail has both parts: the text one for clients (and filters) that read no HTML.
        html: mail.html,
        text: mail.text,
        headers: mail.headers,
        messageId: messageIdOf(row, from),
        // Set here rather than by the transport, so the header is the moment the mail left.
        date: new Date()
      })
      // A sign-in link is a credential: only the subject of such a mail is kept.
      await rows.sent(row.id, mail.secret === true ? { subject: mail.subject, html: '', text: '' } : { subject: mail.subject, html: mail.html, text: mail.text })
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

  /** Look for due mail now (after an enqueue) rather than at the next poll. */
  function kick (): void {
    if (stopped) return
    if (running !== null) { again = true; return }
    running = drain()
      .catch((error: unknown) => { log.error({ err: error }, 'the mail sender failed; it tries again shortly') })
      .finally(() => { running = null; schedule() })
  }

  return {
    kick,
    /** Stops polling; a send under way finishes (or fails and is rescheduled) first. */
    async stop (): Promise<void> {
      stopped = true
      clearTimeout(timer)
      await running
      transport.close()
    }
  }
}
