import type { Content } from '../../db/types.js'
import type { priceInput } from '../../lib/money.js'
import type { VersionSummary } from '../items/plugin.js'
import type { BundleEntry, CatalogPage } from './catalog.js'

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
  /** A signed-out visitor may have this free item by email (POST /content/<slug>/free). */
  byEmail: boolean
}

/** A bundle's page: what it holds (and which the reader holds already), and whether they hold it all. */
export interface BundlePage {
  items: Array<BundleEntry & { held: boolean }>
  ownsAll: boolean
}

// The pages this module renders, and their data (see PageData in src/http/page.ts).
declare module '../../http/page.js' {
  interface PageData {
    'pages/catalog.eta': { catalog: CatalogPage, grid: string | null }
    'pages/content.eta': { content: Content, canDownload: boolean, bundle: BundlePage | null, alsoIn: Array<Pick<Content, 'slug' | 'title'>>, refunded: boolean, versions: VersionSummary[], guestCheckout: boolean, buying: BuyForm, strip: number[] }
  }
}
