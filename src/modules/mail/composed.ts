/** A mail ready to send. */
export interface Composed {
  subject: string
  html: string
  text: string
  /** Extra headers (List-Unsubscribe). */
  headers?: Record<string, string>
  /** The mail holds a credential (a sign-in link): the outbox keeps its subject only. */
  secret?: boolean
}

/** The seller as receipts name them (the store's tax settings): empty strings when not given. */
export interface SellerFacts { name: string, address: string, taxId: string }

/** The store as mails name it. */
export interface StoreFacts { name: string, contactEmail: string, refundPolicy: string, seller: SellerFacts }

/** Fresh download links (delivery's links). */
export interface LinkMaker { days: number, create(orderId: string, now: Date): { url: string, expiresAt: Date } }
