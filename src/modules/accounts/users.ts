import { randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import { prepared } from '../../db/prepared.js'
import type { Runner } from '../../db/runner.js'
import type { Database, User } from '../../db/types.js'
import { normalizeEmail } from '../../lib/email.js'
import { claimGuestPurchases, guestSessionUser } from '../purchase/plugin.js'
import { accountOf } from './linking.js'

export interface SignInProfile {
  provider: string
  subject: string
  email: string | null
  emailVerified: boolean
  name: string | null
}

const DAY_MS = 24 * 60 * 60 * 1000

/** Admin rights come only from a verified email listed in ADMIN_EMAILS (ASCII case ignored: see normalizeEmail). */
export function isAdminEmail (profile: Pick<SignInProfile, 'email' | 'emailVerified'>, adminEmails: readonly string[]): boolean {
  return profile.emailVerified && profile.email !== null && adminEmails.includes(normalizeEmail(profile.email))
}

/** Signed-in visitors whose user row is kept between their requests (a map emptied when full). */
const MAX_CACHED_SESSIONS = 10_000

interface UsersDeps { db: Kysely<Database>, runner: Runner, adminEmails: readonly string[], sessionDays: number, changeStamp?: () => Promise<string> }

/** Admin status follows the ADMIN_EMAILS in force now, not the one at sign-in. */
function withCurrentRights (user: User, adminEmails: readonly string[]): User {
  const isAdmin = isAdminEmail({ email: user.email, emailVerified: user.email_verified === 1 }, adminEmails) ? 1 : 0
  return user.is_admin === isAdmin ? user : { ...user, is_admin: isAdmin }
}

/** Users: who signs in (upsert), their sign-ins (start, end, look up) and their guest purchases. */
export function createUsers (deps: UsersDeps) {
  const { db, runner, adminEmails, sessionDays } = deps
  const signedIn = createSignedInUsers(deps)

  return {
    /** Finds or creates the user by (provider, subject) and refreshes what the provider says of them. */
    async upsert (profile: SignInProfile): Promise<User> {
      const row = {
        provider: profile.provider,
        subject: profile.subject,
        email: profile.email,
        email_verified: profile.emailVerified ? 1 : 0,
        name: profile.name,
        is_admin: isAdminEmail(profile, adminEmails) ? 1 : 0
      }
      return (await runner.first(db.insertInto('users').values(row)
        .onConflict((oc) => oc.columns(['provider', 'subject']).doUpdateSet({
          email: row.email, email_verified: row.email_verified, name: row.name, is_admin: row.is_admin
        }))
        .returningAll()))!
    },

    /**
     * A sign-in, whichever way: the row of the way used (upsert), then the account of its
     * verified address (see linking.ts), which takes the address's guest purchases. Returns
     * the account to sign in and how many guest orders moved into it.
     */
    async signIn (profile: SignInProfile): Promise<{ user: User, claimed: number }> {
      const row = await this.upsert(profile)
      const user = await accountOf(db, runner, row)
      const claimed = await claimGuestPurchases(db, runner, user)
      return { user: withCurrentRights(user, adminEmails), claimed }
    },

    async find (id: number): Promise<User | undefined> {
      return await runner.first(db.selectFrom('users').selectAll().where('id', '=', id))
    },

    /** The user row of a browser's guest checkouts (its random id kept in the session cookie). */
    async guestSession (guestId: string): Promise<User> {
      return await runner.transaction(async () => await guestSessionUser(db, runner, guestId))
    },

    /**
     * At sign-in: every guest purchase of the user's address becomes theirs, once, when the
     * provider vouches for the address (an unverified one claims nothing). How many orders moved.
     */
    async claimGuestPurchases (user: User): Promise<number> {
      return await claimGuestPurchases(db, runner, user)
    },

    /** A new sign-in: its id goes into the cookie, and it lasts SESSION_DAYS from now. */
    async startSession (userId: number, now = new Date()): Promise<string> {
      const id = randomBytes(24).toString('base64url')
      await runner.transaction(async () => {
        // Sign-ins are few: sweeping the expired ones here keeps the table small.
        await runner.run(db.deleteFrom('sessions').where('expires_at', '<=', now.toISOString()))
        await runner.run(db.insertInto('sessions').values({
          id,
          user_id: userId,
          created_at: now.toISOString(),
          expires_at: new Date(now.getTime() + sessionDays * DAY_MS).toISOString()
        }))
      })
      return id
    },

    /** Signing out ends the sign-in on the server: every copy of its cookie is signed out. */
    async endSession (sessionId: string): Promise<void> {
      await runner.run(db.deleteFrom('sessions').where('id', '=', sessionId))
      signedIn.forget(sessionId)
    },

    bySession: signedIn.bySession
  }
}

export type Users = ReturnType<typeof createUsers>

/**
 * The user of a sign-in, read on every request of a signed-in visitor. With `changeStamp` (see
 * DatabaseHandle), the user of a sign-in is kept until the database changes, whoever changed it
 * (a sign-out, a deleted row, a new sign-in refreshing the profile, another instance, a script),
 * and never past the sign-in's expiry: a page of a signed-in visitor costs one stamp read instead
 * of a join.
 */
function createSignedInUsers ({ db, runner, adminEmails, changeStamp }: UsersDeps) {
  const sessionUser = prepared<[string, string], User & { session_expires_at: string }>((arg) => db.selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .selectAll('users')
    .select('sessions.expires_at as session_expires_at')
    .where('sessions.id', '=', arg<string>(0))
    .where('sessions.expires_at', '>', arg<string>(1)))
  /** sign-in id -> its user, when the sign-in ends, and the stamp they were read under. */
  const sessions = new Map<string, { user: User | undefined, expiresAt: string, stamp: string }>()
  /** The newest stamp a user was kept under: those kept under older ones are dropped. */
  let newest = ''

  const withoutExpiry = ({ session_expires_at: _expires, ...user }: User & { session_expires_at: string }): User => user
  const userOf = (row: (User & { session_expires_at: string }) | undefined): User | undefined =>
    row === undefined ? undefined : withCurrentRights(withoutExpiry(row), adminEmails)

  return {
    /** A signed-out sign-in is not kept. */
    forget (sessionId: string): void {
      sessions.delete(sessionId)
    },

    /**
     * On every request of a signed-in visitor: one indexed read, or (with changeStamp) the user
     * read by an earlier request when nothing was written since and the sign-in has not expired.
     */
    async bySession (sessionId: string, now = new Date(), stampAtStart?: string): Promise<User | undefined> {
      const at = now.toISOString()
      if (changeStamp === undefined) return userOf(await runner.first(sessionUser(sessionId, at)))
      // A stamp the caller read before this call will do: what is kept under it was current then.
      const stamp = stampAtStart ?? await changeStamp()
      const kept = sessions.get(sessionId)
      if (kept !== undefined && kept.stamp === stamp && at < kept.expiresAt) return kept.user
      const row = await runner.first(sessionUser(sessionId, at))
      const user = userOf(row)
      // Kept only if nothing was written since the stamp: never older than it. A sign-in that is
      // not there is not kept (it has no expiry to keep it by).
      if (row !== undefined) {
        const current = await changeStamp()
        if (current === stamp) {
          if (current !== newest) { sessions.clear(); newest = current }
          if (sessions.size >= MAX_CACHED_SESSIONS) sessions.clear()
          sessions.set(sessionId, { user, expiresAt: row.session_expires_at, stamp })
        }
      }
      return user
    }
  }
}
