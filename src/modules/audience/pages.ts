import type { BroadcastProgress } from '../mail/plugin.js'

/** GET and POST /unsubscribe/<token>. */
export interface UnsubscribePage { email: string, done: boolean }

/** The answer to POST /content/<slug>/free, and its refused form. */
export interface FreePage { slug: string, itemTitle: string, email: string, problem: string | null, sent: boolean, days: number }

/** The message form of an item (GET, its preview, a refused POST), and its broadcasts' progress. */
export interface MessagePage {
  slug: string
  itemTitle: string
  subject: string
  body: string
  /** The message as the buyers will see it (Markdown rendered), on the preview step. */
  preview: string | null
  problem: string | null
  recipients: number
  mailOn: boolean
  perMinute: number
  progress: BroadcastProgress[]
}

// The pages this module renders, and their data (see PageData in src/http/page.ts).
declare module '../../http/page.js' {
  interface PageData {
    'pages/unsubscribe.eta': UnsubscribePage
    'pages/free-sent.eta': FreePage
    'pages/admin-message.eta': MessagePage
  }
}
