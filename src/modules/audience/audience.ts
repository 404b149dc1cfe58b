import { paidSql } from '../../db/order-amounts.js'
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
import { type Kysely, sql } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Database } from '../../db/types.js'
import { csvLine } from '../../lib/csv.js'
import { normalizeEmail } from '../../lib/email.js'
import { toDecimal } from '../../lib/money.js'

export const CUSTOMERS_CSV_HEADER = ['email', 'first_seen', 'orders', 'paid', 'refunded', 'currency', 'consent', 'unsubscribed'] as const

/** What the customers list says of an address besides its orders. */
export interface AddressStatus { consent: boolean, unsubscribed: boolean }

/**
 * The store's audience: who agreed to hear from the creator, who unsubscribed, and the customers
 * list that puts both beside each buyer's orders. Addresses are kept as normalizeEmail gives them.
 *
 * Unsubscribe links name the address, signed with a key derived from SESSION_SECRET (no table of
 * tokens to keep); the unsubscribed state is a row, so every instance honours it at once.
 */
export function createAudience (deps: { db: Kysely<Database>, runner: Runner, secret: string, publicUrl: string, currency: string }) {
  const { db, runner, publicUrl, currency } = deps
  const key = Buffer.from(hkdfSync('sha256', deps.secret, 'pdf-marketplace', 'unsubscribe link', 32))
  const sign = (payload: string): Buffer => createHmac('sha256', key).update(payload).digest()

  function tokenOf (email: string): string {
    const payload = normalizeEmail(email)
    return `${Buffer.from(payload).toString('base64url')}.${sign(payload).toString('base64url')}`
  }

  return {
    /** The one-click unsubscribe address of an address (List-Unsubscribe and the mail's footer). */
    unsubscribeUrl (email: string): string {
      return `${publicUrl}/unsubscribe/${tokenOf(email)}`
    },

    /** The address an unsubscribe token names, or null when it is not one we signed. */
    addressOf (token: string): string | null {
      const [encoded, signature, ...rest] = token.split('.')
      if (encoded === undefined || signature === undefined || rest.length > 0 || token.length > 800) return null
      const payload = Buffer.from(encoded, 'base64url').toString()
      const given = Buffer.from(signature, 'base64url')
      const expected = sign(payload)
      if (given.length !== expected.length || !timingSafeEqual(given, expected) || Buffer.from(payload).toString('base64url') !== encoded) return null
      return payload
    },

    /** No more updates or messages for the address (receipts and refund notices still go). */
    async unsubscribe (email: string, now = new Date()): Promise<void> {
      const address = normalizeEmail(email)
      await runner.run(db.insertInto('audience').values({ email: address, first_seen: now.toISOString(), consent: 0, consent_at: null, unsubscribed_at: now.toISOString() })
        .onConflict((oc) => oc.column('email').doUpdateSet({ unsubscribed_at: now.toISOString(), consent: 0 })))
    },

    async isUnsubscribed (email: string): Promise<boolean> {
      const row = await runner.first(db.selectFrom('audience').select('unsubscribed_at').where('email', '=', normalizeEmail(email)))
      return row?.unsubscribed_at != null
    },

    /**
     * The address joins the list (a free item asked for by email). Consent given is kept; not
     * ticking the box another time does not take it back (unsubscribing does). Consent given
     * again after unsubscribing subscribes again.
     */
    async remember (email: string, consent: boolean, now = new Date()): Promise<void> {
      const address = normalizeEmail(email)
      const at = now.toISOString()
      await runner.run(db.insertInto('audience').values({ email: address, first_seen: at, consent: consent ? 1 : 0, consent_at: consent ? at : null, unsubscribed_at: null })
        .onConflict((oc) => consent ? oc.column('email').doUpdateSet({ consent: 1, consent_at: at, unsubscribed_at: null }) : oc.column('email').doNothing()))
    },

    /** Consent and unsubscribed state of each of `emails` (for the customers page). */
    async statusOf (emails: readonly string[]): Promise<Map<string, AddressStatus>> {
      const keys = [...new Set(emails.map((email) => normalizeEmail(email)))]
      const found = new Map<string, AddressStatus>()
      if (keys.length === 0) return found
      for (const row of await runner.all(db.selectFrom('audience').selectAll().where('email', 'in', keys))) {
        found.set(row.email, { consent: row.consent === 1, unsubscribed: row.unsubscribed_at !== null })
      }
      return found
    },

    /** GET /admin/customers.csv: one row per address that ordered or joined, oldest first. */
    customersCsv: async function * (): AsyncGenerator<string> {
      yield * customersCsv(db, runner, currency)
    }
  }
}

/** The customers list: every address that ordered (paid at some time) or joined the audience, oldest first. */
async function * customersCsv (db: Kysely<Database>, runner: Runner, currency: string): AsyncGenerator<string> {
  yield csvLine(CUSTOMERS_CSV_HEADER)
  const rows = new Map<string, { first: string, orders: number, paid: number, refunded: number, consent: boolean, unsubscribed: boolean }>()
  const buyers = await runner.all(db.selectFrom('orders').innerJoin('users', 'users.id', 'orders.user_id')
    .select([
      'users.email',
      sql<string>`min(orders.created_at)`.as('first'),
      sql<number>`sum(case when orders.paid_at is not null then 1 else 0 end)`.as('orders'),
      sql<number>`coalesce(sum(case when orders.paid_at is not null then ${paidSql()} else 0 end), 0)`.as('paid'),
      sql<number>`coalesce(sum(orders.refunded_cents), 0)`.as('refunded')
    ])
    .where('users.email', 'is not', null).where('orders.currency', '=', currency)
    .groupBy('users.email'))
  for (const row of buyers) {
    // Addresses equal after normalizeEmail are one customer (an account and its guest orders).
    const email = normalizeEmail(row.email!.trim())
    const seen = rows.get(email)
    const orders = Number(row.orders)
    if (orders === 0 && seen === undefined) continue
    rows.set(email, {
      first: seen === undefined || row.first < seen.first ? row.first : seen.first,
      orders: (seen?.orders ?? 0) + orders,
      paid: (seen?.paid ?? 0) + Number(row.paid),
      refunded: (seen?.refunded ?? 0) + Number(row.refunded),
      consent: false,
      unsubscribed: false
    })
  }
  for (const row of await runner.all(db.selectFrom('audience').selectAll())) {
    const seen = rows.get(row.email)
    rows.set(row.email, {
      first: seen === undefined || row.first_seen < seen.first ? row.first_seen : seen.first,
      orders: seen?.orders ?? 0,
      paid: seen?.paid ?? 0,
      refunded: seen?.refunded ?? 0,
      consent: row.consent === 1,
      unsubscribed: row.unsubscribed_at !== null
    })
  }
  const sorted = [...rows.entries()].sort(([a, x], [b, y]) => x.first.localeCompare(y.first) || a.localeCompare(b))
  for (const [email, row] of sorted) {
    yield csvLine([email, row.first, row.orders, toDecimal(row.paid, currency), toDecimal(row.refunded, currency), currency, row.consent ? 1 : 0, row.unsubscribed ? 1 : 0])
  }
}

export type Audience = ReturnType<typeof createAudience>
