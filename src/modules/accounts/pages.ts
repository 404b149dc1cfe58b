import type { TokenState } from './email-sign-in.js'

/** GET /login with email sign-in on, and the answer to POST /login/email. */
export interface LoginPage {
  /** The address typed (kept on a refused form, shown on the answer). */
  email: string
  next: string
  problem: string | null
  /** The link was asked for: "check your email". */
  sent: boolean
  minutes: number
  /** GET /login/<provider>, when a provider is configured. */
  provider: { href: string, label: string } | null
}

/** GET /login/email/<token>: a button that signs in (a scanner's GET uses nothing), or why not. */
export interface EmailLinkPage {
  state: TokenState
  status: number
}

// The pages this module renders, and their data (see PageData in src/http/page.ts).
declare module '../../http/page.js' {
  interface PageData {
    'pages/login.eta': LoginPage
    'pages/login-email.eta': EmailLinkPage
  }
}
