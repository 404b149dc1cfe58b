import { createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Database } from '../../db/types.js'
import { normalizeEmail } from '../../lib/email.js'

/** A sign-in link works this long, and once. */
export const SIGN_IN_MINUTES = 15
/** Links mailed to one address per window (its inbox is not a target), and asked for by one client. */
export const LINKS_PER_ADDRESS = 3
export const LINKS_PER_CLIENT = 10
const WINDOW_MS = SIGN_IN_MINUTES * 60_000

export type SignInRequest =
  | { outcome: 'queued', id: string }
  /** The address had LINKS_PER_ADDRESS links within the window: nothing is sent (the page says the same). */
  | { outcome: 'address-limited' }
  /** The client asked for LINKS_PER_CLIENT links within the window: told to wait (429). */
  | { outcome: 'client-limited' }

export type TokenState = 'valid' | 'used' | 'expired' | 'invalid'

const TOKEN = /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/
const hashOf = (token: string): string => createHash('sha256').update(token).digest('hex')

/**
 * Sign-in by a link sent by email: `PUBLIC_URL/login/email/<token>`, valid SIGN_IN_MINUTES, once.
 *
 * The token is `<id>.<HMAC(key, id)>`, the key derived from SESSION_SECRET. The database keeps the
 * id and the token's SHA-256, never the token: the outbox row names the id, and the mail is
 * composed when it goes out (like a receipt), the token computed then. Whoever reads the database
 * (a backup, a replica) finds no usable link; whoever holds a link cannot forge another.
 */
export function createEmailSignIn (deps: { db: Kysely<Database>, runner: Runner, secret: string, publicUrl: string }) {
  const { db, runner, publicUrl } = deps
  const key = Buffer.from(hkdfSync('sha256', deps.secret, 'pdf-marketplace', 'email sign-in link', 32))
  const tokenOf = (id: string): string => `${id}.${createHmac('sha256', key).update(id).digest('base64url')}`

  async function countSince (column: 'email' | 'client', value: string, since: Date): Promise<number> {
    const row = await runner.first(db.selectFrom('sign_in_tokens').select((eb) => eb.fn.countAll<number>().as('n'))
      .where(column, '=', value).where('created_at', '>', since.toISOString()))
    return Number(row?.n ?? 0)
  }

  return {
    /**
     * A new link for `email` (trimmed, valid: the route checks), coming back to `next` (a local
     * path) after sign-in. Known address or not, the same: anyone may open an account by email.
     * Old links of the address stay valid until they expire or one of them is used.
     */
    async start (email: string, next: string | null, client: string, now = new Date()): Promise<SignInRequest> {
      const address = normalizeEmail(email)
      const since = new Date(now.getTime() - WINDOW_MS)
      return await runner.transaction(async (): Promise<SignInRequest> => {
        if (await countSince('client', client, since) >= LINKS_PER_CLIENT) return { outcome: 'client-limited' }
        if (await countSince('email', address, since) >= LINKS_PER_ADDRESS) return { outcome: 'address-limited' }
        // Rows older than a day tell nothing any more (the limits look back one window).
        await runner.run(db.deleteFrom('sign_in_tokens').where('created_at', '<', new Date(now.getTime() - 24 * 3600_000).toISOString()))
        const id = randomBytes(16).toString('base64url')
        await runner.run(db.insertInto('sign_in_tokens').values({
          id,
          token_hash: hashOf(tokenOf(id)),
          email: address,
          next,
          client,
          created_at: now.toISOString(),
          expires_at: new Date(now.getTime() + WINDOW_MS).toISOString(),
          used_at: null
        }))
        return { outcome: 'queued', id }
      })
    },

    /** The link of a token id, for the mail; null when it is gone, used or expired (nothing to send). */
    async linkOf (id: string, now = new Date()): Promise<{ url: string, email: string, expiresAt: string } | null> {
      const row = await runner.first(db.selectFrom('sign_in_tokens').select(['email', 'expires_at', 'used_at']).where('id', '=', id))
      if (row === undefined || row.used_at !== null || row.expires_at <= now.toISOString()) return null
      return { url: `${publicUrl}/login/email/${tokenOf(id)}`, email: row.email, expiresAt: row.expires_at }
    },

    /** What a link is now, without using it (the page a GET shows: a mail scanner's fetch changes nothing). */
    async state (token: string, now = new Date()): Promise<TokenState> {
      if (!TOKEN.test(token)) return 'invalid'
      const row = await runner.first(db.selectFrom('sign_in_tokens').select(['expires_at', 'used_at']).where('token_hash', '=', hashOf(token)))
      if (row === undefined) return 'invalid'
      if (row.used_at !== null) return 'used'
      return row.expires_at <= now.toISOString() ? 'expired' : 'valid'
    },

    /**
     * Uses the link: one conditional UPDATE, so of two racing uses (two tabs, two instances) one
     * signs in. The address it was sent to, and where to go next; else why not.
     */
    async use (token: string, now = new Date()): Promise<{ email: string, next: string | null } | { failed: Exclude<TokenState, 'valid'> }> {
      if (!TOKEN.test(token)) return { failed: 'invalid' }
      const at = now.toISOString()
      const row = await runner.first(db.updateTable('sign_in_tokens').set({ used_at: at })
        .where('token_hash', '=', hashOf(token)).where('used_at', 'is', null).where('expires_at', '>', at)
        .returning(['email', 'next']))
      if (row !== undefined) return row
      const state = await this.state(token, now)
      return { failed: state === 'valid' ? 'used' : state }
    }
  }
}

export type EmailSignIn = ReturnType<typeof createEmailSignIn>
