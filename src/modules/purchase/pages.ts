import type { Content } from '../../db/types.js'
import type { ReceiptMoney } from '../../http/order-money.js'

/** The thank-you page of a guest checkout: the signed link, and where the receipt goes. */
export interface GuestResult {
  link: string | null
  email: string | null
}

// The pages this module renders, and their data (see PageData in src/http/page.ts).
declare module '../../http/page.js' {
  interface PageData {
    'pages/checkout-result.eta': { state: string, content: Content | undefined, guest: GuestResult | null, money: ReceiptMoney | null, invoiceUrl: string | null }
    'pages/checkout-cancel.eta': { content: Content | undefined }
  }
}
