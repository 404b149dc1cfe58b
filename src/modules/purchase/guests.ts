import type { Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Database, User } from '../../db/types.js'
import { normalizeEmail } from '../../lib/email.js'

// Guest checkout without loosening orders.user_id NOT NULL: every order still has a user row.
//  - A browser that clicks Buy signed out gets a 'guest-session' user (subject: a random id kept
//    in its session cookie). Its pending orders belong to that row, so the one-open-checkout rule
//    works per browser; the email is unknown until Stripe collects it.
//  - When the order is granted (orders.fulfil, redirect or webhook alike), it moves, in the
//    grant's transaction, to the 'guest' user of the address Stripe collected (subject: the
//    email as normalizeEmail gives it: ASCII letters lower-cased, nothing else folded). Receipts, links and the admin's desk then see the buyer's address.
//  - Signing in with that address, verified, moves everything of the 'guest' row to the account.
// Neither provider can be produced by a sign-in ('github', 'google', 'oidc:<issuer>'), so no one
// signs in as a guest row.

export const GUEST_SESSION_PROVIDER = 'guest-session'
export const GUEST_PROVIDER = 'guest'

export const isGuest = (user: Pick<User, 'provider'>): boolean =>
  user.provider === GUEST_PROVIDER || user.provider === GUEST_SESSION_PROVIDER

/** The address as compared (normalizeEmail), or null for anything that is not one (Stripe validates, we only guard). */
export function guestAddress (email: string | null | undefined): string | null {
  const address = normalizeEmail((email ?? '').trim())
  return address.length > 3 && address.length <= 320 && /^[^\s@]+@[^\s@]+$/.test(address) ? address : null
}

async function guestRow (db: Kysely<Database>, runner: Runner, provider: string, subject: string, email: string | null): Promise<User> {
  await runner.run(db.insertInto('users')
    .values({ provider, subject, email, email_verified: 0, name: null, is_admin: 0 })
    .onConflict((oc) => oc.columns(['provider', 'subject']).doNothing()))
  return (await runner.first(db.selectFrom('users').selectAll().where('provider', '=', provider).where('subject', '=', subject)))!
}

/** The user row of one browser's guest checkouts. */
export async function guestSessionUser (db: Kysely<Database>, runner: Runner, guestId: string): Promise<User> {
  return await guestRow(db, runner, GUEST_SESSION_PROVIDER, guestId, null)
}

/** The user row that owns an address's guest purchases; `address` as guestAddress gives it. */
export async function guestEmailUser (db: Kysely<Database>, runner: Runner, address: string): Promise<User> {
  return await guestRow(db, runner, GUEST_PROVIDER, address, address)
}

/**
 * Moves every guest purchase of the account's address into the account: orders, library rows,
 * free items taken, downloads. Only for a verified address; run again, it finds nothing left.
 * An item the account already has keeps its own library row (the first); the guest order stays
 * a paid order of the account, so refunding one of the two leaves the other's access.
 * Returns how many orders moved.
 */
export async function claimGuestPurchases (db: Kysely<Database>, runner: Runner, user: User): Promise<number> {
  if (isGuest(user) || user.email_verified !== 1) return 0
  const address = guestAddress(user.email)
  if (address === null) return 0
  return await runner.transaction(async () => {
    const guest = await runner.first(db.selectFrom('users').select('id').where('provider', '=', GUEST_PROVIDER).where('subject', '=', address))
    if (guest === undefined || guest.id === user.id) return 0
    const from = guest.id
    for (const row of await runner.all(db.selectFrom('library').selectAll().where('user_id', '=', from))) {
      await runner.run(db.insertInto('library').values({ ...row, user_id: user.id }).onConflict((oc) => oc.columns(['user_id', 'content_id']).doNothing()))
    }
    await runner.run(db.deleteFrom('library').where('user_id', '=', from))
    for (const row of await runner.all(db.selectFrom('free_library').selectAll().where('user_id', '=', from))) {
      await runner.run(db.insertInto('free_library').values({ ...row, user_id: user.id }).onConflict((oc) => oc.columns(['user_id', 'content_id']).doNothing()))
    }
    await runner.run(db.deleteFrom('free_library').where('user_id', '=', from))
    await runner.run(db.updateTable('downloads').set({ user_id: user.id }).where('user_id', '=', from))
    return (await runner.run(db.updateTable('orders').set({ user_id: user.id }).where('user_id', '=', from))).changes
  })
}
