import type { Content, ContentVersion } from '../../db/types.js'
import type { priceInput } from '../../lib/money.js'
import type { BundleChoice, BundleFields, BundleProblems } from './bundles.js'
import type { EditFields, EditProblems } from './edit.js'
import type { ItemsPage } from './items.js'
import type { ContentFields, ContentProblems } from './uploads.js'

/** The new item's form (GET and POST /admin/content/new). */
export interface UploadForm {
  values: ContentFields
  problems: ContentProblems
  maxUploadMb: number
  price: ReturnType<typeof priceInput>
}

/** An item's edit form (GET and POST /admin/content/<slug>/edit). */
export interface EditForm {
  content: Content
  values: EditFields
  problems: EditProblems
  maxUploadMb: number
  price: ReturnType<typeof priceInput>
  latestVersion: number
  /** The latest version's row: its page count, and why it cannot be stamped if it cannot. */
  latest: ContentVersion | undefined
  /** The provider has Payment Links (Stripe); with Mollie the field is shown disabled. */
  paymentLinks: boolean
}

/** A bundle's form (GET /admin/bundles/new, an edit of a bundle, and both POSTs refused). */
export interface BundleForm {
  /** The bundle edited; null: a new one. */
  bundle: Content | null
  values: BundleFields
  problems: BundleProblems
  /** Every item a bundle may hold, as check boxes. */
  choices: BundleChoice[]
  price: ReturnType<typeof priceInput>
  maxItems: number
}

// The pages this module renders, and their data (see PageData in src/http/page.ts).
declare module '../../http/page.js' {
  interface PageData {
    'pages/admin-items.eta': { items: ItemsPage, refused: { message: string, slug: string, published: boolean } | null }
    'pages/admin-edit.eta': EditForm
    'pages/admin-new.eta': UploadForm
    'pages/admin-bundle.eta': BundleForm
  }
}
