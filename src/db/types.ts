import type { Generated, Insertable, Selectable, Updateable } from 'kysely'

// Kept beside migrations/: one interface per table, columns as better-sqlite3 returns them
// (booleans as 0/1, times as ISO text, money as integer cents).

export interface UsersTable {
  id: Generated<number>
  provider: string
  subject: string
  email: string | null
  email_verified: number
  name: string | null
  is_admin: number
  created_at: Generated<string>
}
export type User = Selectable<UsersTable>
export type NewUser = Insertable<UsersTable>

export interface ContentTable {
  id: Generated<number>
  slug: string
  title: string
  description: string
  price_cents: number
  currency: string
  file_key: string
  file_name: string
  file_size: number
  sha256: string
  preview_key: string
  created_at: Generated<string>
  /** 1: listed and for sale; 0: unpublished (owners keep it). */
  published: Generated<number>
  /** The Stripe Payment Link (plink_...) that sells this item, and the URL Stripe gave it. */
  payment_link_id: string | null
  payment_link_url: string | null
  /** 1: the buyer names the amount, at least min_price_cents (price_cents is the suggestion). */
  pay_what_you_want: Generated<number>
  min_price_cents: Generated<number>
  /** How many first pages anyone who may see the item sees as images (0-10), and gets as a sample PDF (0: none). */
  preview_pages: Generated<number>
  sample_pages: Generated<number>
  /** The latest version's page count; null until read (an item older than migrations/0017). */
  page_count: Generated<number | null>
  /** 'item': a PDF of its own; 'bundle': several items sold as one (bundle_items), no file of its own (migrations/0020). */
  kind: Generated<ContentKind>
}
export type ContentKind = 'item' | 'bundle'
export type Content = Selectable<ContentTable>
export type NewContent = Insertable<ContentTable>

export type OrderStatus = 'pending' | 'paid' | 'failed' | 'expired' | 'refunded' | 'review'

export interface OrdersTable {
  id: string
  user_id: number
  content_id: number
  amount_cents: number
  currency: string
  status: Generated<OrderStatus>
  /** The provider's checkout (a Stripe Checkout Session, a Mollie payment), see migrations/0016. */
  provider_checkout_id: string | null
  /** The payment refunds go back through (a Stripe PaymentIntent, the Mollie payment). */
  provider_payment_id: string | null
  created_at: Generated<string>
  paid_at: string | null
  /** What a promotion code took off amount_cents; the buyer paid amount_cents - discount_cents. */
  discount_cents: Generated<number>
  /** The payment provider that took (or was to take) the money: refunds go back through it. */
  provider: Generated<PaymentProviderName>
  /**
   * How much of what the buyer paid has been refunded (see migrations/0014-partial-refunds.ts):
   * 0 < refunded_cents < paid keeps access; the whole of it makes the order refunded.
   */
  refunded_cents: Generated<number>
  /** How the price went to the provider (see migrations/0019-tax.ts): tax on top, inside, or none asked. */
  tax_behavior: TaxBehavior | null
  /** The tax in what the buyer paid, in minor units (Stripe Tax's total_details.amount_tax). */
  tax_cents: Generated<number>
  /** The billing address's country (ISO 3166-1 alpha-2), when the provider collected it. */
  buyer_country: string | null
  /** The buyer's tax ids, JSON [{ type, value }] (see taxIdsOf in db/order-amounts.ts). */
  buyer_tax_ids: string | null
  invoice_id: string | null
  invoice_url: string | null
}
export type TaxBehavior = 'exclusive' | 'inclusive'
export type PaymentProviderName = 'stripe' | 'mollie'
export type Order = Selectable<OrdersTable>
export type NewOrder = Insertable<OrdersTable>
export type OrderUpdate = Updateable<OrdersTable>

export interface LibraryTable {
  user_id: number
  content_id: number
  order_id: string
  granted_at: Generated<string>
  /** The order's line that granted the row (migrations/0021); null: line 1. */
  line: number | null
}

/**
 * One line of an order (migrations/0021): an item or a bundle at an amount before discounts and
 * tax; its share of the order's discount and tax, recorded when the order is paid; what of it
 * has been refunded. orders.amount_cents is the sum of its lines, orders.content_id line 1's.
 */
export interface OrderLinesTable {
  order_id: string
  /** 1-based. */
  line: number
  content_id: number
  amount_cents: number
  currency: string
  discount_cents: Generated<number>
  tax_cents: Generated<number>
  refunded_cents: Generated<number>
}
export type OrderLine = Selectable<OrderLinesTable>

export interface PaymentEventsTable {
  id: string
  type: string
  received_at: Generated<string>
}

export interface RefundsTable {
  payment_intent: string
  refunded_at: Generated<string>
}

/** Key/value facts about the database itself (`store_id`: the content folder it owns). */
export interface MetaTable {
  key: string
  value: string
}

export interface SessionsTable {
  id: string
  user_id: number
  created_at: string
  expires_at: string
}

export interface FreeLibraryTable {
  user_id: number
  content_id: number
  added_at: Generated<string>
}

export interface DownloadsTable {
  id: Generated<number>
  user_id: number
  content_id: number
  version: Generated<number>
  downloaded_at: Generated<string>
  /** The purchase downloaded (null: a free item, or an admin's download of an item they did not buy). */
  order_id: string | null
  email: string | null
  via: Generated<DownloadVia>
  /** Bytes sent (asked for) over all the requests of this download. */
  bytes: Generated<number>
  requests: Generated<number>
  client_address: string | null
  user_agent: string | null
  last_request_at: string | null
}

/** Where a download came from: the signed-in library route, or an emailed link (/d/<token>). */
export type DownloadVia = 'library' | 'link'

/** What an order's timeline records (see OrderEventKind in src/modules/purchase/orders.ts). */
export interface OrderEventsTable {
  id: Generated<number>
  order_id: string
  at: Generated<string>
  kind: string
  detail: string | null
}
export type OrderEvent = Selectable<OrderEventsTable>

/** Every PDF an item has had; content.file_key and its neighbours are the latest one's. */
export interface ContentVersionsTable {
  content_id: number
  version: number
  file_key: string
  file_name: string
  file_size: number
  sha256: string
  /** What changed, in a line; empty for the first version. */
  changelog: Generated<string>
  created_at: Generated<string>
  /** Read from the PDF at upload (migrations/0017-pdf.ts); null until read. */
  page_count: Generated<number | null>
  pdf_title: Generated<string | null>
  pdf_author: Generated<string | null>
  /** Why buyers get this version unstamped (encrypted, damaged), null when it can be stamped. */
  stamp_problem: Generated<string | null>
}
export type ContentVersion = Selectable<ContentVersionsTable>

/** The store's settings, one row per key (src/modules/settings/settings.ts reads and writes them). */
export interface SettingsTable {
  key: string
  value: string
}

/** The FTS5 index of content's title and description (external content, kept by triggers). */
export interface ContentFtsTable {
  rowid: number
  title: string
  description: string
}

/**
 * What the outbox sends: a receipt for an order, fresh links for an address (POST /links), or a
 * refund notice for one refund of an order.
 */
export type OutboxKind = 'receipt' | 'links' | 'refund' | 'sign-in' | 'free' | 'update' | 'message'

/** Mail to send, written in the transaction of what caused it (see migrations/0010-outbox.ts). */
export interface OutboxTable {
  id: Generated<number>
  kind: OutboxKind
  order_id: string | null
  to_address: string
  /** What was sent: filled in when the mail is rendered, at send time. */
  subject: string | null
  html: string | null
  text: string | null
  created_at: string
  attempts: Generated<number>
  next_attempt_at: string
  sent_at: string | null
  last_error: string | null
  /** The instance sending it, until claimed_until (ISO): see migrations/0013-instances.ts. */
  claimed_by: string | null
  claimed_until: string | null
  /** A refund notice's refund: its amount, and whether the buyer kept the item (1) or lost it (0). */
  refund_cents: number | null
  access_kept: number | null
  /** An update or message to an item's buyers (see migrations/0018-buyers.ts). */
  broadcast_id: number | null
  /** What the mail is about besides an order: a sign-in token's id. */
  ref: string | null
}
export type OutboxRow = Selectable<OutboxTable>

/** A Buy under way for a buyer and item, on whichever instance (see migrations/0013-instances.ts). */
export interface CheckoutClaimsTable {
  user_id: number
  content_id: number
  holder: string
  claimed_until: string
}

/** Work one instance at a time does for all, e.g. `sweep` (see migrations/0015-leases.ts). */
export interface LeasesTable {
  name: string
  holder: string
  claimed_until: string
}

/** A page image (kind 'page', n = page) or a sample (kind 'sample', n = its pages) of a version, in the store. */
export interface PdfAssetsTable {
  content_id: number
  version: number
  kind: 'page' | 'sample'
  n: number
  key: string
  content_type: string
  size: number
  created_at: Generated<string>
}
export type PdfAsset = Selectable<PdfAssetsTable>

/** A buyer's own stamped copy of a version (STAMP_PDFS), made once and served as is. */
export interface StampedCopiesTable {
  order_id: string
  content_id: number
  version: number
  /** The random mark embedded in the copy: /admin/trace finds the order by it. */
  copy_id: string
  key: string
  size: number
  created_at: Generated<string>
}
export type StampedCopy = Selectable<StampedCopiesTable>

export type PdfJobKind = 'render' | 'sample' | 'stamp'
export type PdfJobStatus = 'pending' | 'done' | 'failed'

/** Work on a PDF, run off the event loop by whichever instance claims it (migrations/0017-pdf.ts). */
export interface PdfJobsTable {
  id: Generated<number>
  job_key: string
  kind: PdfJobKind
  content_id: number
  version: number
  order_id: string | null
  /** render: how many pages; sample: how many pages. */
  pages: Generated<number>
  status: Generated<PdfJobStatus>
  attempts: Generated<number>
  claimed_by: string | null
  claimed_until: string | null
  last_error: string | null
  created_at: Generated<string>
  done_at: string | null
}
export type PdfJob = Selectable<PdfJobsTable>

/** An emailed sign-in link: only the token's SHA-256 is kept (see migrations/0018-buyers.ts). */
export interface SignInTokensTable {
  id: string
  token_hash: string
  email: string
  next: string | null
  client: string | null
  created_at: string
  expires_at: string
  used_at: string | null
}

/** What the customers list knows of an address beyond its orders: consent, unsubscribed. */
export interface AudienceTable {
  email: string
  first_seen: string
  consent: Generated<number>
  consent_at: string | null
  unsubscribed_at: string | null
}

/** An update (new version) or message to an item's buyers; its mails are outbox rows. */
export interface BroadcastsTable {
  id: Generated<number>
  content_id: number
  kind: 'update' | 'message'
  subject: string
  body: string
  version: number | null
  recipients: Generated<number>
  created_at: string
}
export type Broadcast = Selectable<BroadcastsTable>

/** What a bundle holds, in the order its page lists them. */
export interface BundleItemsTable {
  bundle_id: number
  item_id: number
  position: number
}

export interface Database {
  users: UsersTable
  content: ContentTable
  orders: OrdersTable
  library: LibraryTable
  payment_events: PaymentEventsTable
  refunds: RefundsTable
  meta: MetaTable
  sessions: SessionsTable
  free_library: FreeLibraryTable
  downloads: DownloadsTable
  order_events: OrderEventsTable
  content_versions: ContentVersionsTable
  settings: SettingsTable
  content_fts: ContentFtsTable
  outbox: OutboxTable
  checkout_claims: CheckoutClaimsTable
  leases: LeasesTable
  pdf_assets: PdfAssetsTable
  stamped_copies: StampedCopiesTable
  pdf_jobs: PdfJobsTable
  sign_in_tokens: SignInTokensTable
  audience: AudienceTable
  broadcasts: BroadcastsTable
  bundle_items: BundleItemsTable
  order_lines: OrderLinesTable
}
