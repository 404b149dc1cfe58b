import type { Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Database, User } from '../../db/types.js'
import { normalizeEmail } from '../../lib/email.js'

// One verified address, one library.
//
// A person may sign in by an emailed link, by GitHub, Google or OIDC: each way is a users row of
// its own (unique provider and subject). When the way vouches for the address (the link was
// opened, the provider says email_verified), the sign-in goes to the address's account: the
// oldest non-guest row whose address is verified and equal to this one. Purchases of the other
// verified rows of the address (made before they were linked) move to that account, as guest
// purchases of the address do (purchase/guests.ts).
//
// Equal means equal after normalizeEmail: ASCII letters lower-cased, nothing else changed. No
// Unicode case folding or NFKC: those map U+212A KELVIN SIGN to "k" (and fullwidth letters,
// ligatures, ... to others), so "\u212Aate@example.com", an address someone else may register
// and verify at their own provider or mail host, would reach kate@example.com's library.
// PostgreSQL's lower() folds more than ASCII, so it only narrows the rows (and uses the index
// users_email); the comparison that decides is normalizeEmail's, in JavaScript. An unverified
// address links nothing: its row keeps only what was bought while signed in with it.

const GUEST_PROVIDERS = ['guest', 'guest-session']

/** The account a sign-in of `user` goes to: itself, or the address's oldest verified account. */
export async function accountOf (db: Kysely<Database>, runner: Runner, user: User): Promise<User> {
  if (user.email_verified !== 1 || user.email === null || GUEST_PROVIDERS.includes(user.provider)) return user
  const key = normalizeEmail(user.email.trim())
  return await runner.transaction(async () => {
    const rows = (await runner.all(db.selectFrom('users').selectAll()
      .where((eb) => eb(eb.fn('lower', ['email']), '=', eb.fn('lower', [eb.val(key)])))
      .where('email_verified', '=', 1)
      .where('provider', 'not in', GUEST_PROVIDERS)
      .orderBy('id')))
      .filter((row) => row.email !== null && normalizeEmail(row.email.trim()) === key)
    const account = rows[0] ?? user
    for (const other of rows.slice(1)) await moveEverything(db, runner, other.id, account.id)
    return account
  })
}

/** Orders, library and free items, downloads and sign-ins of `from` become `to`'s (an item `to` has keeps its own row). */
async function moveEverything (db: Kysely<Database>, runner: Runner, from: number, to: number): Promise<void> {
  for (const row of await runner.all(db.selectFrom('library').selectAll().where('user_id', '=', from))) {
    await runner.run(db.insertInto('library').values({ ...row, user_id: to }).onConflict((oc) => oc.columns(['user_id', 'content_id']).doNothing()))
  }
  await runner.run(db.deleteFrom('library').where('user_id', '=', from))
  for (const row of await runner.all(db.selectFrom('free_library').selectAll().where('user_id', '=', from))) {
    await runner.run(db.insertInto('free_library').values({ ...row, user_id: to }).onConflict((oc) => oc.columns(['user_id', 'content_id']).doNothing()))
  }
  await runner.run(db.deleteFrom('free_library').where('user_id', '=', from))
  await runner.run(db.updateTable('downloads').set({ user_id: to }).where('user_id', '=', from))
  await runner.run(db.updateTable('orders').set({ user_id: to }).where('user_id', '=', from))
  // Whoever is signed in through the other row now sees the account's library too.
  await runner.run(db.updateTable('sessions').set({ user_id: to }).where('user_id', '=', from))
}
