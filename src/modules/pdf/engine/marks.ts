// Where a stamp hides its order id and copy id, shared by the writer (stamp.ts) and the reader
// (read-stamp.ts). Several places, so that removing the visible line, re-saving the file with
// another tool or stripping one of them still leaves the others:
//   - the Info dictionary: keys PdfMarketOrder and PdfMarketCopy;
//   - the trailer /ID: [copy id, tag(copy id)] (tools keep the first element on re-save);
//   - each page's /PieceInfo: << /PdfMarket << /LastModified .. /Private << /Order /Copy >> >> >>;
//   - invisible text (render mode 3) on each page, in its own content stream: MARKER.
import { createHash } from 'node:crypto'

export const INFO_ORDER = 'PdfMarketOrder'
export const INFO_COPY = 'PdfMarketCopy'
export const PIECE = 'PdfMarket'
export const FONT = 'PdfMarketF1'
const MARKER_PREFIX = 'pdfmarket-stamp'

/** The invisible text: `pdfmarket-stamp copy=<32 hex> order=<order id>`. */
export function marker (orderId: string, copyId: string): string {
  return `${MARKER_PREFIX} copy=${copyId} order=${orderId}`
}

export function parseMarkers (text: string): Array<{ copyId: string, orderId: string }> {
  const found = []
  for (const match of text.matchAll(/pdfmarket-stamp\s*copy=([0-9a-f]{32})\s*order=([A-Za-z0-9_-]{1,100})/g)) {
    found.push({ copyId: match[1], orderId: match[2] })
  }
  return found
}

/** The second element of the /ID: marks the first as ours while nobody re-saved the file. */
export function idTag (copyId: string): string {
  return createHash('sha256').update(`pdfmarket:${copyId}`).digest('hex').slice(0, 32)
}

export const isCopyId = (value: unknown): value is string => typeof value === 'string' && /^[0-9a-f]{32}$/.test(value)
export const isOrderId = (value: unknown): value is string => typeof value === 'string' && /^[A-Za-z0-9_-]{1,100}$/.test(value)
