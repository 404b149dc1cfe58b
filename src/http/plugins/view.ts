import view from '@fastify/view'
import { Eta } from 'eta'
import fp from 'fastify-plugin'
import { viewsDir } from '../../paths.js'
import { renderMarkdown } from '../../lib/markdown.js'
import type { Content } from '../../db/types.js'
import { formatAmount, formatPrice, minimumCharge } from '../../lib/money.js'
import { taxIdsOf } from '../../db/order-amounts.js'
import { countryName } from '../order-money.js'
import { itemPath } from '../../lib/slugs.js'

/**
 * What a list shows for an item's price: the price, or for pay what you want the least it costs
 * ("From $2.00"), "Pay what you want" when that is nothing.
 */
export function priceLabel (item: Pick<Content, 'price_cents' | 'currency' | 'pay_what_you_want' | 'min_price_cents'>): string {
  if (item.pay_what_you_want !== 1) return formatPrice(item.price_cents, item.currency)
  return item.min_price_cents === 0 ? 'Pay what you want' : `From ${formatAmount(item.min_price_cents, item.currency)}`
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The engine behind the pages, for a part rendered once and reused (the catalogue grid). */
    eta: Eta
  }
}

const dateFormat = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' })

/** What every template can call. */
export const viewContext = {
  formatPrice,
  priceLabel,
  /** An amount of money that may be 0 ("$0.00", never "Free"): revenue, refunds. */
  formatAmount,
  /** The lowest amount a card payment takes, in minor units (a tip's floor). */
  minimumCharge,
  /** "12 KB", "2.4 MB": a file's size for a person. */
  formatSize: (bytes: number): string => bytes < 1024 * 1024 ? `${Math.max(1, Math.round(bytes / 1024))} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`,
  /** "Nov 24, 2026" from an ISO time. */
  formatDate: (iso: string): string => dateFormat.format(new Date(iso)),
  /** `/content/<slug>` with the slug percent-encoded (`tail` like `/download`): every link to an item goes through it. */
  itemPath,
  /** Markdown (descriptions, the refund policy) as inert HTML: output it with `<%~`. */
  renderMarkdown,
  /** "Germany" from "DE" (the buyer's country on the tax figures). */
  countryName: (code: string): string => countryName(code) ?? code,
  /** The values of an order's buyer_tax_ids ([] when none). */
  taxIds: (stored: string | null): string[] => taxIdsOf(stored).map((id) => id.value)
}

export const LAYOUT = 'layout.eta'

/** Eta templates under views/, every page in the layout. */
export default fp(async function viewPlugin (app) {
  const eta = new Eta({ autoEscape: true, cache: true, views: viewsDir })
  app.decorate('eta', eta)
  await app.register(view, {
    engine: { eta },
    root: viewsDir,
    layout: LAYOUT,
    // Caches compiled templates; off only when a developer edits templates with `npm run dev`.
    production: process.env.VIEW_CACHE !== 'off',
    defaultContext: viewContext
  })
}, { name: 'view' })
