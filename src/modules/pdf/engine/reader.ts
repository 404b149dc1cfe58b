// pdf.js, the reader: what a buyer's viewer sees. It opens damaged files (it rebuilds a broken
// cross-reference table), knows passwords and renders. Used inside the pool's worker threads only.
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { getDocument, type PDFDocumentProxy } from 'pdfjs-dist/legacy/build/pdf.mjs'

const root = dirname(createRequire(import.meta.url).resolve('pdfjs-dist/package.json'))
// Trailing separators: pdf.js appends file names to these. standard_fonts/ draws the 14 standard
// fonts a PDF may use without embedding them; cmaps/ decodes CJK text; wasm/ decodes JPEG 2000.
const standardFontDataUrl = join(root, 'standard_fonts') + '/'
const cMapUrl = join(root, 'cmaps') + '/'
const wasmUrl = join(root, 'wasm') + '/'

export async function openReader (bytes: Uint8Array): Promise<PDFDocumentProxy> {
  return await getDocument({
    data: bytes,
    standardFontDataUrl,
    cMapUrl,
    cMapPacked: true,
    wasmUrl,
    isEvalSupported: false,
    disableFontFace: true,
    useSystemFonts: false,
    stopAtErrors: false,
    verbosity: 0
  }).promise
}

/** pdf.js errors carry their class in `name`: PasswordException, InvalidPDFException, ... */
export function errorName (error: unknown): string {
  return error instanceof Error || (typeof error === 'object' && error !== null && 'name' in error)
    ? String((error as { name: unknown }).name)
    : 'Error'
}
