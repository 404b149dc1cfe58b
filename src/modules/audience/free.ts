import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Content, Database } from '../../db/types.js'
import { guestEmailUser } from '../purchase/plugin.js'

/**
 * A free item asked for by email (POST /content/<slug>/free): the address's guest user gets an
 * order of 0, paid, and the item in its library, so the emailed `/d/<token>` link works as for
 * a purchase, the address is a customer, and a later sign-in with it (verified) brings the item
 * into the account's library. Asked for again, the same order is used. Returns its id.
 */
export async function freeOrder (db: Kysely<Database>, runner: Runner, content: Content, address: string, now = new Date()): Promise<string> {
  return await runner.transaction(async () => {
    const guest = await guestEmailUser(db, runner, address)
    const existing = await runner.first(db.selectFrom('orders').select('id')
      .where('user_id', '=', guest.id).where('content_id', '=', content.id).where('status', '=', 'paid').where('amount_cents', '=', 0))
    if (existing !== undefined) return existing.id
    const id = randomUUID()
    await runner.run(db.insertInto('orders').values({
      id, user_id: guest.id, content_id: content.id, amount_cents: 0, currency: content.currency, status: 'paid', paid_at: now.toISOString(), created_at: now.toISOString()
    }))
    await runner.run(db.insertInto('order_lines').values({ order_id: id, line: 1, content_id: content.id, amount_cents: 0, currency: content.currency }))
    await runner.run(db.insertInto('library').values({ user_id: guest.id, content_id: content.id, order_id: id, granted_at: now.toISOString(), line: 1 })
      .onConflict((oc) => oc.columns(['user_id', 'content_id']).doNothing()))
    return id
  })
}
