import type { Content } from '../../db/types.js'

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

// The pages this module renders, and their data (see PageData in src/http/page.ts).
declare module '../../http/page.js' {
  interface PageData {
    'pages/download-link.eta': LinkPage
    /** A bundle order's download link: its items, each downloaded by the same link with ?item=<slug>. */
    'pages/download-bundle.eta': { bundle: Content, items: Array<Pick<Content, 'slug' | 'title' | 'page_count'>>, token: string, days: number }
    'pages/links.eta': { values: { email: string }, problem: string | null, sent: boolean, days: number }
  }
}
