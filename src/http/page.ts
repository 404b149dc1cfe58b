import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

/** What the layout shows on every page. */
export interface LayoutData {
  title: string
  user: { id: number, name: string | null, email: string | null, isAdmin: boolean } | null
  /** For the sign-out form and the page's own forms: signed-in visitors, and a guest's Buy form. */
  csrfToken: string | null
  flash: { info: string[], error: string[] }
  demo: { paymentsDashboardUrl: string | null, paymentHint: string, mailUrl: string | null } | null
  path: string
  /** The store's name, tagline and contact (header, title, footer), from the settings in force. */
  store: { name: string, tagline: string, contactEmail: string }
  /** Who takes the payments, for the footer: "Stripe" or "Mollie". */
  paymentsBy: string
  /** How many entries the visitor's cart holds (the header's cart link shows when there are any). */
  cartCount: number
}

/**
 * Each template and the data it is rendered with (besides the layout's). The http layer knows
 * its own page; each module adds the pages it renders, by declaration merging in its pages.ts:
 *
 *     declare module '../../http/page.js' {
 *       interface PageData { 'pages/library.eta': { items: LibraryEntry[] } }
 *     }
 */
export interface PageData {
  'pages/error.eta': { status: number, message: string }
}

export interface PageOptions {
  status?: number
  /**
   * A form on the page needs a CSRF token though nobody is signed in (a guest's Buy): making one
   * starts a session cookie, so only such pages ask for it; other anonymous pages stay cookie-free.
   */
  csrf?: boolean
}

declare module 'fastify' {
  interface FastifyReply {
    /** Renders a page in the layout (who is signed in, CSRF token, flash, demo banner, the store's name) and sends it. */
    page<T extends keyof PageData>(template: T, data: PageData[T] & { title: string }, options?: PageOptions): Promise<FastifyReply>
  }
}

const noFlash = { info: [], error: [] }

/**
 * The pending flash messages, removed from the session. Reading them with reply.flash() writes
 * the session even when there are none, which re-encrypts it and sends a Set-Cookie on every
 * page (anonymous visitors included): only sessions that hold messages are touched.
 */
function takeFlash (request: FastifyRequest, reply: FastifyReply): LayoutData['flash'] {
  if (!hasFlash(request)) return noFlash
  return { info: reply.flash('info') as string[], error: reply.flash('error') as string[] }
}

/** Whether the session holds flash messages (a page that shows them is this visitor's own). */
function hasFlash (request: FastifyRequest): boolean {
  const pending = request.session.get('flash') as Record<string, unknown> | undefined
  return pending !== undefined && pending !== null && Object.keys(pending).length > 0
}

/** The entries of the visitor's cart (session key `cart`, kept by src/modules/cart): the header counts them. */
function cartCount (request: FastifyRequest): number {
  const cart = request.session.get('cart')
  return Array.isArray(cart) ? cart.length : 0
}

/** The one way a page is rendered: by routes and by the error handler alike. */
export default fp(async function page (app) {
  const demo = app.config.demo
  const { settings, pageCache } = app
  const paymentsBy = app.config.paymentProvider === 'mollie' ? 'Mollie' : 'Stripe'

  // After the session and the user are known: a kept page of a cacheable route for this visitor
  // (see page-cache.ts), unless flash messages wait to be shown.
  app.addHook('onRequest', async (request, reply) => {
    const stamp = request.pageStamp
    // A page with a cart in its header is this visitor's own, rendered afresh.
    if (stamp === null || hasFlash(request) || cartCount(request) > 0) return
    const entry = pageCache.lookup(pageCache.key(request.user?.id ?? null, request.url), stamp)
    if (entry !== undefined) return pageCache.send(request, reply, entry)
  })

  app.decorateReply('page', async function page (this: FastifyReply, template: keyof PageData, data: object, options: PageOptions = {}) {
    const request = this.request
    const status = options.status ?? 200
    const user = request.user
    // Another instance's save shows on the next page this one renders.
    const store = await settings.fresh()
    const token = !(user === null && options.csrf !== true)
    // A page a person asked for shows (and so uses up) the flash messages; an error page or the
    // answer to a form leaves them for the next page.
    const flash = request.method === 'GET' && status < 400 ? takeFlash(request, this) : noFlash
    // A cacheable route's page without flash messages is kept, rendered with a placeholder where
    // the token goes; page-cache.ts puts this request's token in.
    const stamp = request.pageStamp
    const cart = cartCount(request)
    const keep = stamp !== null && status === 200 && flash === noFlash && cart === 0
    const layout: Omit<LayoutData, 'title'> = {
      user: user === null ? null : { id: user.id, name: user.name, email: user.email, isAdmin: user.is_admin === 1 },
      csrfToken: !token ? null : keep ? pageCache.placeholder : this.generateCsrf(),
      flash,
      demo,
      path: request.url,
      store: { name: store.storeName, tagline: store.tagline, contactEmail: store.contactEmail },
      paymentsBy,
      cartCount: cart
    }
    const html = await this.viewAsync(template, { ...layout, ...data })
    if (keep) return pageCache.send(request, this, await pageCache.keep(pageCache.key(user?.id ?? null, request.url), stamp, store, html, token))
    return await this.code(status).type('text/html; charset=utf-8').send(html)
  })
}, { name: 'page', dependencies: ['view', 'csrf', 'flash', 'auth', 'settings', 'page-cache'] })
