import { type ExpressionBuilder, type Kysely, sql } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Broadcast, Database } from '../../db/types.js'
import { normalizeEmail } from '../../lib/email.js'

/** Orders that grant the item: of the item itself, or of a bundle holding it. */
const grants = (contentId: number) => (eb: ExpressionBuilder<Database, 'orders'>) => eb.or([
  eb('orders.content_id', '=', contentId),
  eb('orders.content_id', 'in', eb.selectFrom('bundle_items').select('bundle_items.bundle_id').where('bundle_items.item_id', '=', contentId))
])

/** Rows written per INSERT when a broadcast is enqueued. */
const BATCH = 500

export interface BroadcastInput { contentId: number, kind: 'update' | 'message', subject: string, body: string, version: number | null }

export interface BroadcastProgress {
  id: number
  kind: 'update' | 'message'
  subject: string
  created_at: string
  recipients: number
  sent: number
  /** Not sent, and never will be: unsubscribed or refunded since it was written. */
  skipped: number
  waiting: number
  /** Waiting after a failed attempt (retried with backoff). */
  failing: number
  /** When the last waiting mail is due (the pace of MAIL_PER_MINUTE). */
  finishesAt: string | null
}

/**
 * Updates and messages to an item's buyers. A broadcast's mails are outbox rows, all written in
 * the broadcast's one transaction: a crash before its commit sends nobody anything, a crash after
 * it leaves rows the sender (any instance) goes on with. At most one row per (broadcast, address)
 * (a unique index), and each row is sent as any outbox row: at least once, once but for a crash
 * between the SMTP answer and marking it sent. The rows are spaced MAIL_PER_MINUTE apart, after
 * any broadcast still going out, so the pace holds across broadcasts and instances.
 */
export function createBroadcasts (deps: { db: Kysely<Database>, runner: Runner, perMinute: number }) {
  const { db, runner } = deps
  const spacingMs = 60_000 / deps.perMinute

  /**
   * Who gets an item's updates and messages: the address of every paid order of it or of a bundle
   * holding it (a refunded
   * order is not paid; a partly refunded one is), and for a free item whoever took it signed in
   * with a verified address. Unsubscribed addresses are left out. Addresses as normalizeEmail gives them.
   */
  async function recipients (contentId: number): Promise<string[]> {
    const buyers = await runner.all(db.selectFrom('orders').innerJoin('users', 'users.id', 'orders.user_id')
      .select('users.email').distinct()
      .where(grants(contentId)).where('orders.status', '=', 'paid').where('users.email', 'is not', null))
    const free = await runner.all(db.selectFrom('free_library').innerJoin('users', 'users.id', 'free_library.user_id')
      .select('users.email').distinct()
      .where('free_library.content_id', '=', contentId).where('users.email_verified', '=', 1).where('users.email', 'is not', null))
    const all = new Set([...buyers, ...free].map((row) => normalizeEmail(row.email!.trim())))
    const out = new Set((await runner.all(db.selectFrom('audience').select('email').where('unsubscribed_at', 'is not', null))).map((row) => row.email))
    return [...all].filter((email) => !out.has(email)).sort()
  }

  return {
    recipients,

    /** Writes the broadcast and one outbox row per recipient, in one transaction. */
    async enqueue (input: BroadcastInput, now = new Date()): Promise<{ id: number, recipients: number }> {
      return await runner.transaction(async () => {
        const addresses = await recipients(input.contentId)
        const { id } = (await runner.first(db.insertInto('broadcasts').values({
          content_id: input.contentId, kind: input.kind, subject: input.subject, body: input.body, version: input.version, recipients: addresses.length, created_at: now.toISOString()
        }).returning('id')))!
        const last = await runner.first(db.selectFrom('outbox').select((eb) => eb.fn.max<string | null>('next_attempt_at').as('at'))
          .where('sent_at', 'is', null).where('broadcast_id', 'is not', null))
        const start = Math.max(now.getTime(), last?.at == null ? 0 : Date.parse(last.at) + spacingMs)
        for (let i = 0; i < addresses.length; i += BATCH) {
          await runner.run(db.insertInto('outbox').values(addresses.slice(i, i + BATCH).map((to, j) => ({
            kind: input.kind,
            broadcast_id: id,
            order_id: null,
            to_address: to,
            created_at: now.toISOString(),
            next_attempt_at: new Date(start + Math.round((i + j) * spacingMs)).toISOString()
          }))).onConflict((oc) => oc.columns(['broadcast_id', 'to_address']).doNothing()))
        }
        return { id, recipients: addresses.length }
      })
    },

    /** The broadcast a mail belongs to, with its item. */
    async facts (id: number): Promise<(Broadcast & { slug: string, title: string, price_cents: number, currency: string, pay_what_you_want: number, min_price_cents: number }) | undefined> {
      return await runner.first(db.selectFrom('broadcasts').innerJoin('content', 'content.id', 'broadcasts.content_id')
        .selectAll('broadcasts').select(['content.slug', 'content.title', 'content.price_cents', 'content.currency', 'content.pay_what_you_want', 'content.min_price_cents'])
        .where('broadcasts.id', '=', id))
    },

    /** A paid order of the item by the address (its download link), or null (refunded since, or taken free signed in). */
    async paidOrderOf (address: string, contentId: number): Promise<string | null> {
      const key = normalizeEmail(address)
      const rows = await runner.all(db.selectFrom('orders').innerJoin('users', 'users.id', 'orders.user_id')
        .select(['orders.id', 'users.email'])
        .where((eb) => eb(eb.fn('lower', ['users.email']), '=', eb.fn('lower', [eb.val(key)])))
        .where(grants(contentId)).where('orders.status', '=', 'paid'))
      return rows.find((row) => row.email !== null && normalizeEmail(row.email.trim()) === key)?.id ?? null
    },

    /** The item's broadcasts, newest first, with how far each has got. */
    async progress (contentId: number, limit = 10): Promise<BroadcastProgress[]> {
      const rows = await runner.all(db.selectFrom('broadcasts').leftJoin('outbox', 'outbox.broadcast_id', 'broadcasts.id')
        .select(['broadcasts.id', 'broadcasts.kind', 'broadcasts.subject', 'broadcasts.created_at', 'broadcasts.recipients',
          sql<number>`sum(case when outbox.sent_at is not null and outbox.subject is not null then 1 else 0 end)`.as('sent'),
          sql<number>`sum(case when outbox.sent_at is not null and outbox.subject is null then 1 else 0 end)`.as('skipped'),
          sql<number>`sum(case when outbox.id is not null and outbox.sent_at is null then 1 else 0 end)`.as('waiting'),
          sql<number>`sum(case when outbox.sent_at is null and outbox.last_error is not null then 1 else 0 end)`.as('failing'),
          sql<string | null>`max(case when outbox.sent_at is null then outbox.next_attempt_at end)`.as('finishesAt')])
        .where('broadcasts.content_id', '=', contentId)
        .groupBy(['broadcasts.id', 'broadcasts.kind', 'broadcasts.subject', 'broadcasts.created_at', 'broadcasts.recipients'])
        .orderBy('broadcasts.id', 'desc').limit(limit))
      return rows.map((row) => ({ ...row, sent: Number(row.sent ?? 0), skipped: Number(row.skipped ?? 0), waiting: Number(row.waiting ?? 0), failing: Number(row.failing ?? 0) }))
    }
  }
}

export type Broadcasts = ReturnType<typeof createBroadcasts>
