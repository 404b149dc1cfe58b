import { paidSql } from '../../db/order-amounts.js'
import { type Kysely, sql } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Database, Order, OutboxKind, OutboxRow } from '../../db/types.js'
import { normalizeEmail } from '../../lib/email.js'

/** What a receipt (or a refund notice) says about its order: amount_cents is what the buyer paid, tax included. */
export interface ReceiptFacts {
  id: string
  status: string
  title: string
  slug: string
  amount_cents: number
  refunded_cents: number
  currency: string
  paid_at: string | null
  tax_cents: number
  tax_behavior: 'exclusive' | 'inclusive' | null
  buyer_country: string | null
  buyer_tax_ids: string | null
  invoice_id: string | null
}

/** After the nth failure the next attempt waits this long; from then on every 30 minutes. */
export const BACKOFF_MS = [5_000, 30_000, 2 * 60_000, 10 * 60_000, 30 * 60_000] as const

export function backoffMs (attempts: number): number {
  return BACKOFF_MS[Math.min(attempts, BACKOFF_MS.length) - 1] ?? BACKOFF_MS[0]
}

/** Anything going into a mail header: one line (nodemailer encodes, but a line break is never ours). */
export function headerText (text: string): string {
  return text.replace(/[\r\n\u2028\u2029]+/g, ' ').replace(/\s{2,}/g, ' ').trim()
}

interface OutboxDeps { db: Kysely<Database>, runner: Runner }

const iso = (date: Date): string => date.toISOString()

/**
 * The outbox's rows: written by whoever causes a mail (in their transaction), read and marked by
 * the sender. Every function runs only queries, so it can run inside a caller's transaction.
 */
export function createOutbox (deps: OutboxDeps) {
  return { ...createOutboxQueue(deps), ...createOutboxLookups(deps) }
}

export type Outbox = ReturnType<typeof createOutbox>

/** The rows' life: added, claimed by a sender, then marked sent or failed (and tried again later). */
function createOutboxQueue ({ db, runner }: OutboxDeps) {
  async function due (now = new Date(), limit = 20): Promise<OutboxRow[]> {
    return await runner.all(db.selectFrom('outbox').selectAll()
      .where('sent_at', 'is', null).where('next_attempt_at', '<=', iso(now))
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', iso(now))]))
      .orderBy('next_attempt_at').orderBy('id').limit(limit))
  }

  return {
    /**
     * A mail to send as soon as the sender can; returns its row id. A refund notice carries its
     * refund: the amount, and whether the buyer kept the item (null: they never had it).
     */
    async add (kind: OutboxKind, to: string, orderId: string | null, now = new Date(), refund?: { cents: number, accessKept: boolean | null }): Promise<number> {
      const row = (await runner.first(db.insertInto('outbox').values({
        kind,
        order_id: orderId,
        to_address: normalizeEmail(to),
        created_at: iso(now),
        next_attempt_at: iso(now),
        ...(refund === undefined ? {} : { refund_cents: refund.cents, access_kept: refund.accessKept === null ? null : refund.accessKept ? 1 : 0 })
      }).returning('id')))!
      return row.id
    },

    /** A mail about something other than an order: a sign-in token (`ref`), a free item's order. */
    async addMail (kind: OutboxKind, to: string, about: { orderId?: string, ref?: string }, now = new Date()): Promise<number> {
      const row = (await runner.first(db.insertInto('outbox').values({
        kind, order_id: about.orderId ?? null, ref: about.ref ?? null, to_address: normalizeEmail(to), created_at: iso(now), next_attempt_at: iso(now)
      }).returning('id')))!
      return row.id
    },

    /** The waiting rows whose time has come and that nobody holds, oldest first. */
    due,

    /**
     * The lease: takes the oldest due row nobody holds (or whose holder's lease ran out) for
     * `holder` until now + leaseMs, and returns it; undefined when nothing is due. The UPDATE
     * repeats the lease condition, so of two instances racing for a row one changes it and the
     * other changes nothing (PostgreSQL: the second waits on the row's lock, then re-reads the
     * row and finds it taken; SQLite: one writer at a time) and tries the next row.
     */
    async claim (holder: string, leaseMs: number, now = new Date()): Promise<OutboxRow | undefined> {
      const until = iso(new Date(now.getTime() + leaseMs))
      for (;;) {
        const candidates = await due(now, 5)
        if (candidates.length === 0) return undefined
        for (const row of candidates) {
          const claimed = await runner.first(db.updateTable('outbox').set({ claimed_by: holder, claimed_until: until })
            .where('id', '=', row.id).where('sent_at', 'is', null).where('next_attempt_at', '<=', iso(now))
            .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', iso(now))]))
            .returningAll())
          if (claimed !== undefined) return claimed
        }
      }
    },

    /**
     * Claims an earlier run of this instance left behind (a crash): that process is gone (its
     * successor holds the port), so what it held can be sent now rather than after the lease.
     */
    async releaseClaimsOf (instance: string, except: string): Promise<number> {
      return (await runner.run(db.updateTable('outbox').set({ claimed_by: null, claimed_until: null })
        .where('sent_at', 'is', null)
        .where(sql<string>`substr(claimed_by, 1, ${sql.lit(instance.length + 1)})`, '=', `${instance}/`)
        .where('claimed_by', '!=', except))).changes
    },

    /** When the next waiting row is due (null: nothing waits). */
    async nextDue (): Promise<string | null> {
      return (await runner.first(db.selectFrom('outbox').select('next_attempt_at').where('sent_at', 'is', null)
        .orderBy('next_attempt_at').limit(1)))?.next_attempt_at ?? null
    },

    /**
     * After a restart, what waited is tried at once (an operator often restarts after fixing
     * SMTP); updates and messages to buyers keep their times, which pace them (MAIL_PER_MINUTE).
     */
    async retryAllNow (now = new Date()): Promise<number> {
      return (await runner.run(db.updateTable('outbox').set({ next_attempt_at: iso(now) }).where('sent_at', 'is', null).where('broadcast_id', 'is', null))).changes
    },

    async sent (id: number, mail: { subject: string, html: string, text: string } | null, now = new Date(), note: string | null = null): Promise<void> {
      await runner.run(db.updateTable('outbox').set({
        sent_at: iso(now), last_error: note, claimed_by: null, claimed_until: null, ...(mail === null ? {} : mail)
      }).where('id', '=', id))
    },

    /** A failed attempt: the error kept, the next one later (see BACKOFF_MS). */
    async failed (id: number, attempts: number, error: string, now = new Date()): Promise<Date> {
      const next = new Date(now.getTime() + backoffMs(attempts))
      await runner.run(db.updateTable('outbox').set({ attempts, last_error: error.slice(0, 500), next_attempt_at: iso(next), claimed_by: null, claimed_until: null }).where('id', '=', id))
      return next
    }
  }
}

/** What the outbox is asked about: by address, by order, and the facts a receipt states. */
function createOutboxLookups ({ db, runner }: OutboxDeps) {
  return {
    /** Mails of a kind queued for an address since a time (the per-address limit of /links). */
    async countSince (kind: OutboxKind, to: string, since: Date): Promise<number> {
      const row = await runner.first(db.selectFrom('outbox').select((eb) => eb.fn.countAll<number>().as('n'))
        .where('to_address', '=', normalizeEmail(to)).where('kind', '=', kind).where('created_at', '>', iso(since)))
      return Number(row?.n ?? 0)
    },

    /** An order's mails, oldest first (the admin's order page, tests). */
    async forOrder (orderId: string): Promise<OutboxRow[]> {
      return await runner.all(db.selectFrom('outbox').selectAll().where('order_id', '=', orderId).orderBy('id'))
    },

    /** Where an order's receipt goes: its user's email, else the address Stripe collected. */
    async recipientOf (order: Order, customerEmail: string | null | undefined): Promise<string | null> {
      const user = await runner.first(db.selectFrom('users').select('email').where('id', '=', order.user_id))
      const email = user?.email ?? customerEmail ?? null
      return email === null || email.trim() === '' ? null : email.trim()
    },

    /** Paid orders of every user with this email (ASCII case ignored: see normalizeEmail), newest first. */
    async paidOrdersOf (email: string): Promise<Array<{ id: string, title: string, amount_cents: number, currency: string, paid_at: string | null }>> {
      const key = normalizeEmail(email)
      const rows = await runner.all(db.selectFrom('orders')
        .innerJoin('users', 'users.id', 'orders.user_id')
        .innerJoin('content', 'content.id', 'orders.content_id')
        .select(['orders.id', 'content.title', paidSql().as('amount_cents'), 'orders.currency', 'orders.paid_at', 'users.email'])
        // lower() only narrows the rows: PostgreSQL's folds more than ASCII (the Kelvin sign to
        // k), so the comparison that decides is normalizeEmail's, below.
        .where((eb) => eb(eb.fn('lower', ['users.email']), '=', eb.fn('lower', [eb.val(key)])))
        .where('orders.status', '=', 'paid')
        .orderBy('orders.paid_at', 'desc'))
      return rows.filter((row) => row.email !== null && normalizeEmail(row.email) === key).map(({ email: _email, ...order }) => order)
    },

    /** What a receipt (or a refund notice) says about its order. */
    async receiptFacts (orderId: string): Promise<ReceiptFacts | undefined> {
      return await runner.first(db.selectFrom('orders').innerJoin('content', 'content.id', 'orders.content_id')
        .select([
          'orders.id', 'orders.status', 'content.title', 'content.slug', paidSql().as('amount_cents'), 'orders.refunded_cents', 'orders.currency', 'orders.paid_at',
          'orders.tax_cents', 'orders.tax_behavior', 'orders.buyer_country', 'orders.buyer_tax_ids', 'orders.invoice_id'
        ])
        .where('orders.id', '=', orderId))
    }
  }
}
