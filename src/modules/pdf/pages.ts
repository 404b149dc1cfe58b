import type { Trace } from './trace.js'

// The pages this module renders, and their data (see PageData in src/http/page.ts).
declare module '../../http/page.js' {
  interface PageData {
    'pages/admin-trace.eta': { problem: string | null, trace: Trace | null | undefined, fileName: string | null }
  }
}
