// The page this module renders, and its data (see PageData in src/http/page.ts).

/** A cart entry as the page shows it. */
export interface CartRow {
  slug: string
  title: string
  kind: 'item' | 'bundle'
  amountCents: number
  currency: string
  payWhatYouWant: boolean
}

declare module '../../http/page.js' {
  interface PageData {
    'pages/cart.eta': {
      rows: CartRow[]
      totalCents: number
      currency: string
      /** A signed-out visitor pays as a guest; with a provider that does not collect the address (Mollie), they type it here. */
      askEmail: boolean
      /** Signed out and guest checkout off: Checkout asks them to sign in first. */
      signInFirst: boolean
    }
  }
}
