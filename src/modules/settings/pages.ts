import type { PaymentProviderName } from '../../db/types.js'
import type { AllSettingsFields, SettingsProblems, StoreSettings } from './settings.js'

/** The store settings form (GET and POST /admin/settings). */
export interface SettingsForm {
  values: AllSettingsFields
  problems: SettingsProblems
  limits: { storeName: number, tagline: number, refundPolicy: number, sellerName: number, sellerAddress: number, sellerTaxId: number }
  /** The payment provider in force: promotion codes are a Stripe Checkout feature. */
  provider: PaymentProviderName
}

// The pages this module renders, and their data (see PageData in src/http/page.ts).
declare module '../../http/page.js' {
  interface PageData {
    'pages/settings.eta': SettingsForm
    'pages/policies.eta': { settings: StoreSettings }
  }
}
