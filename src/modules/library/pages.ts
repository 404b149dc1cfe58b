import type { LibraryEntry } from './library.js'

// The pages this module renders, and their data (see PageData in src/http/page.ts).
declare module '../../http/page.js' {
  interface PageData {
    'pages/library.eta': { items: LibraryEntry[] }
  }
}
