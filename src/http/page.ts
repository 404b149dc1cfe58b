import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Content } from '../db/types.js'
import type { CaughtMail } from '../dev/mail-catcher/index.js'
import type { CatalogPage } from '../modules/catalog/catalog.js'
import type { LibraryEntry } from '../modules/library/library.js'
import type { SalesChart } from '../modules/desk/sales-chart.js'
import type { RefundQuote } from '../modules/purchase/refunds.js'
import type { CustomersPage, Dashboard, OrderDetail, OrderFilter, OrderRow, OrdersPage } from '../modules/desk/sales.js'
import type { OrderStatus, PaymentProviderName } from '../db/types.js'
import type { EditFields, EditProblems } from '../modules/items/edit.js'
import type { ItemsPage } from '../modules/items/items.js'
import type { VersionSummary } from '../modules/items/versions.js'
import type { ContentFields, ContentProblems } from '../modules/items/uploads.js'
import type { priceInput } from '../lib/money.js'
import type { SettingsFields, SettingsProblems, StoreSettings } from '../modules/settings/settings.js'

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
}

export interface UploadForm {
  values: ContentFields
  problems: ContentProblems
  maxUploadMb: number
  price: ReturnType<typeof priceInput>
}

export interface EditForm {
  content: Content
  values: EditFields
  problems: EditProblems
  maxUploadMb: number
  price: ReturnType<typeof priceInput>
  latestVersion: number
  /** The provider has Payment Links (Stripe); with Mollie the field is shown disabled. */
  paymentLinks: boolean
}

export interface SettingsForm {
  values: SettingsFields
  problems: SettingsProblems
  limits: { storeName: number, tagline: number, refundPolicy: number }
  /** The payment provider in force: promotion codes are a Stripe Checkout feature. */
  provider: PaymentProviderName
}

/** The refund's confirm page (GET and POST /admin/orders/<id>/refund). */
export interface RefundForm {
  order: OrderRow
  quote: RefundQuote
  /** The amount field: what remains to refund, or what the admin typed. */
  amount: string
  /** The amount already refunded as this page shows it (sent back with the form). */
  refunded: string
  input: ReturnType<typeof priceInput>
  problem: string | null
  amountProblem: string | null
  /** The buyer is emailed a refund notice (SMTP configured). */
  notify: boolean
}

/** What GET /d/<token> shows instead of the PDF. */
export interface LinkPage {
  status: number
  state: 'invalid' | 'expired' | 'refunded' | 'unpaid' | 'limit'
  itemTitle: string | null
  expiredAt: string | null
  /** DOWNLOAD_LIMIT, on the limit page. */
  limit?: number
  /** For the fresh-link form (POST /links), signed in or not. */
  freshLinkCsrf: string
  contactEmail: string
  /** DOWNLOAD_LINK_DAYS. */
  days: number
}

/** Each template and the data it is rendered with (besides the layout's). */
export interface Pages {
  'pages/catalog.eta': { catalog: CatalogPage, grid: string | null }
  'pages/content.eta': { content: Content, canDownload: boolean, refunded: boolean, versions: VersionSummary[], guestCheckout: boolean, buying: BuyForm }
  'pages/library.eta': { items: LibraryEntry[] }
  'pages/admin-new.eta': UploadForm
  'pages/admin-items.eta': { items: ItemsPage, refused: { message: string, slug: string, published: boolean } | null }
  'pages/admin-edit.eta': EditForm
  'pages/checkout-result.eta': { state: string, content: Content | undefined, guest: GuestResult | null }
  'pages/checkout-cancel.eta': { content: Content | undefined }
  'pages/error.eta': { status: number, message: string }
  'pages/admin-dashboard.eta': { dashboard: Dashboard, chart: SalesChart, flushable: boolean }
  'pages/admin-flush.eta': object
  'pages/admin-orders.eta': { page: OrdersPage, filter: OrderFilter, statuses: readonly OrderStatus[], csvHref: string, newerHref: string | null, olderHref: string | null }
  'pages/admin-order.eta': OrderDetail & { refundable: boolean, problem: string | null, receipts: { enabled: boolean, sent: number, waiting: number, days: number } }
  'pages/admin-refund.eta': RefundForm
  'pages/admin-customers.eta': { page: CustomersPage, currency: string }
  'pages/settings.eta': SettingsForm
  'pages/policies.eta': { settings: StoreSettings }
  'pages/download-link.eta': LinkPage
  'pages/links.eta': { values: { email: string }, problem: string | null, sent: boolean, days: number }
  'pages/dev-mail.eta': { messages: CaughtMail[], selected: CaughtMail | null }
}

/** What the item page's Buy (and tip) form needs besides the item. */
export interface BuyForm {
  /** Free for signed-in readers (a price of 0, or pay what you want from 0). */
  free: boolean
  /** The amount field of a pay-what-you-want item, fitted to the currency. */
  amount: ReturnType<typeof priceInput>
  /** The amount filled in: the price, which a pay-what-you-want item suggests. */
  suggested: string
  /** The provider's page does not ask for the buyer's address (Mollie): a guest types it here. */
  askEmail: boolean
  /** Who takes the payment, as the buyer knows it: "Stripe", "Mollie". */
  provider: string
}

/** The thank-you page of a guest checkout: the signed link, and where the receipt goes. */
export interface GuestResult {
  link: string | null
  email: string | null
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
    page<T extends keyof Pages>(template: T, data: Pages[T] & { title: string }, options?: PageOptions): Promise<FastifyReply>
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

/** The one way a page is rendered: by routes and by the error handler alike. */
export default fp(async function page (app) {
  const demo = app.config.demo
  const { settings, pageCache } = app
  const paymentsBy = app.config.paymentProvider === 'mollie' ? 'Mollie' : 'Stripe'

  // After the session and the user are known: a kept page of a cacheable route for this visitor
  // (see page-cache.ts), unless flash messages wait to be shown.
  app.addHook('onRequest', async (request, reply) => {
    const stamp = request.pageStamp
    if (stamp === null || hasFlash(request)) return
    const entry = pageCache.lookup(pageCache.key(request.user?.id ?? null, request.url), stamp)
    if (entry !== undefined) return pageCache.send(request, reply, entry)
  })

  app.decorateReply('page', async function page (this: FastifyReply, template: keyof Pages, data: object, options: PageOptions = {}) {
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
    const keep = stamp !== null && status === 200 && flash === noFlash
    const layout: Omit<LayoutData, 'title'> = {
      user: user === null ? null : { id: user.id, name: user.name, email: user.email, isAdmin: user.is_admin === 1 },
      csrfToken: !token ? null : keep ? pageCache.placeholder : this.generateCsrf(),
      flash,
      demo,
      path: request.url,
      store: { name: store.storeName, tagline: store.tagline, contactEmail: store.contactEmail },
      paymentsBy
    }
    const html = await this.viewAsync(template, { ...layout, ...data })
    if (keep) return pageCache.send(request, this, await pageCache.keep(pageCache.key(user?.id ?? null, request.url), stamp, store, html, token))
    return await this.code(status).type('text/html; charset=utf-8').send(html)
  })
}, { name: 'page', dependencies: ['view', 'csrf', 'flash', 'auth', 'settings', 'page-cache'] })
