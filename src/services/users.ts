import { randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Runner } from '../db/runner.js'
import type { Database, User } from '../db/types.js'
import { claimGuestPurchases, guestSessionUser } from './guests.js'

export interface SignInProfile {
  provider: string
  subject: string
  email: string | null
  emailVerified: boolean
  name: string | null
}

const DAY_MS = 24 * 60 * 60 * 1000

/** Admin rights come only from a verified email listed in ADMIN_EMAILS (case-insensitive). */
export function isAdminEmail (profile: Pick<SignInProfile, 'email' | 'emailVerified'>, adminEmails: readonly string[]): boolean {
  return profile.emailVerified && profile.email !== null && adminEmails.includes(profile.email.toLowerCase())
}

export function createUsers (deps: { db: Kysely<Database>, runner: Runner, adminEmails: readonly string[], sessionDays: number }) {
  const { db, runner, adminEmails, sessionDays } = deps

  /** Admin status follows the ADMIN_EMAILS in force now, not the one at sign-in. */
  const withCurrentRights = (user: User): User => {
    const isAdmin = isAdminEmail({ email: user.email, emailVerified: user.email_verified === 1 }, adminEmails) ? 1 : 0
    return user.is_admin === isAdmin ? user : { ...user, is_admin: isAdmin }
  }

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
    },

    /** On every request of a signed-in visitor: one indexed read. */
    async bySession (sessionId: string, now = new Date()): Promise<User | undefined> {
      const user = await runner.first(db.selectFrom('sessions')
        .innerJoin('users', 'users.id', 'sessions.user_id')
        .selectAll('users')
        .where('sessions.id', '=', sessionId)
        .where('sessions.expires_at', '>', now.toISOString()))
      return user === undefined ? undefined : withCurrentRights(user)
    }
  }
}

export type Users = ReturnType<typeof createUsers>
