import type { CaughtMail } from '../../dev/mail-catcher/index.js'

// The pages this module renders, and their data (see PageData in src/http/page.ts).
declare module '../../http/page.js' {
  interface PageData {
    'pages/dev-mail.eta': { messages: CaughtMail[], selected: CaughtMail | null }
  }
}
