import type { Kysely } from 'kysely'
import type { SyncRunner } from '../db/database.js'
import type { Database, User } from '../db/types.js'

export interface SignInProfile {
  provider: string
  subject: string
  email: string | null
  emailVerified: boolean
  name: string | null
}

/** Admin rights come only from a verified email listed in ADMIN_EMAILS (case-insensitive). */
export function isAdminEmail (profile: SignInProfile, adminEmails: readonly string[]): boolean {
  return profile.emailVerified && profile.email !== null && adminEmails.includes(profile.email.toLowerCase())
}

export function createUsers (db: Kysely<Database>, sync: SyncRunner, adminEmails: readonly string[]) {
  const byId = (id: number) => db.selectFrom('users').selectAll().where('id', '=', id)
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
      return await db.insertInto('users').values(row)
        .onConflict((oc) => oc.columns(['provider', 'subject']).doUpdateSet({
          email: row.email, email_verified: row.email_verified, name: row.name, is_admin: row.is_admin
        }))
        .returningAll()
        .executeTakeFirstOrThrow()
    },

    /** On every request of a signed-in user: a synchronous primary-key read. */
    find (id: number): User | undefined {
      return sync.first(byId(id))
    }
  }
}

export type Users = ReturnType<typeof createUsers>
