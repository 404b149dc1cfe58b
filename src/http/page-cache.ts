import { createHash, randomBytes } from 'node:crypto'
import type { FastifyReply, FastifyRequest, onSendHookHandler } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A GET page that is the same for every visitor of one user (or every anonymous one): see page-cache.ts. */
    pageCache?: boolean
  }
  interface FastifyInstance {
    pageCache: PageCache
  }
  interface FastifyRequest {
    /** The database's change stamp when a cacheable page was asked for (null: not one). */
    pageStamp: string | null
  }
}

/** A rendered page, kept for the next visitor it is the same for. */
interface Entry {
  /**
   * The database's change stamp it was read under, and the store's settings it shows: the
   * settings object in force (app.settings.current()), compared by identity only, so the http
   * layer needs no knowledge of what it holds.
   */
  stamp: string
  settings: object
  /**
   * The HTML between the places of the CSRF token (one part: the page has none), encoded once:
   * Node encodes a string body on every write, slowly for a page with any non-Latin-1 character.
   */
  parts: Buffer[]
  /** The layout asked for a token (signed in, or a guest's form): made per request, as before. */
  token: boolean
  /** A page without a token: its bytes and their ETag. */
  body: Buffer | null
  etag: string | null
}

export interface PageCache {
  /**
   * Stands for the CSRF token while a page is rendered to be kept: random per process, hex (the
   * same escaped or not), so no content can contain it.
   */
  readonly placeholder: string
  /** The key of a page: whose it is (a user's id, or nobody) and its URL as asked for. */
  key(userId: number | null, url: string): string
  /** The kept page, if it is still the page for that key now (`stamp` read at the request's start). */
  lookup(key: string, stamp: string): Entry | undefined
  /**
   * Keeps a page rendered from data read after `stamp` (and with `settings`), if nothing was
   * written since: a kept page is never older than its stamp. Returns the entry to send.
   */
  keep(key: string, stamp: string, settings: object, html: string, token: boolean): Promise<Entry>
  /** Sends a page (kept or about to be): a fresh CSRF token in it, or its bytes with ETag and 304. */
  send(request: FastifyRequest, reply: FastifyReply, entry: Entry): FastifyReply
}

/** How many pages are kept (the oldest go first), in how many bytes at most, and the largest one kept. */
const MAX_ENTRIES = 2000
const MAX_BYTES = 32 * 1024 * 1024
const MAX_PAGE_BYTES = 256 * 1024

/** If-None-Match lists the ETag (weak comparison, as RFC 9110 asks for GET), or is `*`. */
export function matchesEtag (header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  return header.split(',').some((candidate) => {
    const tag = candidate.trim()
    return tag === '*' || tag === etag || tag === `W/${etag}`
  })
}

/**
 * Pages kept until the database changes. A catalogue or item page is the same for every
 * anonymous visitor, and for every request of one signed-in user but for the CSRF token: the
 * page is rendered once per database state (its change stamp, which moves with every commit of
 * any instance or script: uploads, edits, unpublishing, price changes, orders, flush, sign-in and
 * sign-out) and per settings object, and the token, made per request as before, is put in its
 * places. Pages that carry a flash message are never kept nor served from here.
 *
 * An anonymous page without a token goes out with an ETag (304 on If-None-Match) and
 * `Cache-Control: private, no-cache` (a browser keeps it and asks again each time; no shared
 * cache keeps it, and `Vary: Cookie` since the same URL is another page once signed in). A
 * visitor without any cookie gets it first thing, before the session is even looked at: such a
 * request has no session, so no user, no flash and no cookie to write.
 */
export default fp(async function pageCache (app) {
  const { changeStamp } = app.database
  const { settings } = app
  const placeholder = randomBytes(16).toString('hex')
  const entries = new Map<string, Entry>()
  let bytes = 0
  const size = (key: string, entry: Entry): number => key.length + entry.parts.reduce((sum, part) => sum + part.length, 0)
  const drop = (key: string): void => {
    const entry = entries.get(key)
    if (entry === undefined) return
    bytes -= size(key, entry)
    entries.delete(key)
  }
  /** The newest stamp a page was kept under: entries of older ones are dropped. */
  let newest = ''

  const cache: PageCache = {
    placeholder,
    key: (userId, url) => `${userId ?? ''} ${url}`,

    lookup (key, stamp) {
      const entry = entries.get(key)
      return entry !== undefined && entry.stamp === stamp && entry.settings === settings.current() ? entry : undefined
    },

    async keep (key, stamp, shown, html, token) {
      const body = token ? null : Buffer.from(html)
      const parts = body !== null ? [body] : html.split(placeholder).map((part) => Buffer.from(part))
      const entry: Entry = {
        stamp,
        settings: shown,
        parts,
        token,
        body,
        etag: body === null ? null : `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`
      }
      const now = await changeStamp()
      if (now !== stamp || html.length > MAX_PAGE_BYTES) return entry
      if (now !== newest) { entries.clear(); bytes = 0; newest = now }
      drop(key)
      const added = size(key, entry)
      for (const oldest of entries.keys()) {
        if (entries.size < MAX_ENTRIES && bytes + added <= MAX_BYTES) break
        drop(oldest)
      }
      entries.set(key, entry)
      bytes += added
      return entry
    },

    send (request, reply, entry) {
      if (entry.body === null) {
        const parts = entry.parts
        let html = parts[0]!
        if (parts.length > 1) {
          const token = Buffer.from(reply.generateCsrf())
          const pieces: Buffer[] = [parts[0]!]
          for (let i = 1; i < parts.length; i++) pieces.push(token, parts[i]!)
          html = Buffer.concat(pieces)
        } else if (entry.token) {
          // The layout asked for a token it did not show: made all the same (it may start the session).
          reply.generateCsrf()
        }
        return reply.code(200).type('text/html; charset=utf-8').send(html)
      }
      reply.type('text/html; charset=utf-8').header('cache-control', 'private, no-cache').header('vary', 'cookie').header('etag', entry.etag!)
      if (matchesEtag(request.headers['if-none-match'], entry.etag!)) return reply.code(304).send()
      return reply.code(200).send(entry.body)
    }
  }
  app.decorate('pageCache', cache)
  app.decorateRequest('pageStamp', null)

  // Before the session: the stamp of every cacheable GET (kept pages are checked against it, and
  // a page rendered now is kept under it), and a kept anonymous page for a visitor with no cookie.
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'GET' || request.routeOptions.config.pageCache !== true) return
    const stamp = await changeStamp()
    request.pageStamp = stamp
    if (request.headers.cookie !== undefined) return
    const entry = cache.lookup(cache.key(null, request.url), stamp)
    if (entry !== undefined && entry.body !== null) return cache.send(request, reply, entry)
  })
}, { name: 'page-cache', dependencies: ['database', 'settings'] })

/**
 * What is one person's is kept by no cache, the browser's included (the back button on a shared
 * computer, a proxy that ignores `private`): every answer for a signed-in user (admin pages are
 * only ever for one) and every answer that sets a cookie goes out `private, no-store`, whatever
 * the route said. What is the same for everyone (a `public` cover or stylesheet) keeps its own
 * caching unless it sets a cookie. The site registers it once, after the plugins whose onSend
 * hooks write cookies (the session's, @fastify/cookie's).
 */
export const personalNoStore: onSendHookHandler = (request, reply, payload, done) => {
  if (reply.hasHeader('set-cookie') || (request.user !== null && !/\bpublic\b/i.test(String(reply.getHeader('cache-control') ?? '')))) {
    reply.header('cache-control', 'private, no-store')
  }
  done(null, payload)
}
