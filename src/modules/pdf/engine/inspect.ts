// What the store learns from an upload: page count, title, author, encryption, and whether each
// buyer's copy can be stamped. A file is refused with one sentence the creator can act on.
import { readFile } from 'node:fs/promises'
import { MAX_PAGES, openEditor, walkPages } from './editor.js'
import { errorName, openReader } from './reader.js'

export interface PdfFacts { pages: number, title: string | null, author: string | null, encrypted: boolean, stampable: boolean, unstampableReason: string | null }
export type Inspection = { ok: true, facts: PdfFacts } | { ok: false, reason: string }

export const REASONS = {
  empty: 'This file is empty: upload the PDF again.',
  notPdf: 'This file is not a PDF: export or save it as PDF and upload it again.',
  password: 'This PDF is protected by a password, so readers could not open it: upload it without the password.',
  damaged: 'This PDF is damaged and could not be read even after repair: export it again from the program that made it and upload the new file.',
  noPages: 'This PDF has no pages: export it again from the program that made it.',
  tooMany: `This PDF has more than ${MAX_PAGES.toLocaleString('en-US')} pages, which this store does not accept: split it into several files.`,
  cycle: 'This PDF is damaged: its list of pages loops back on itself. Export it again from the program that made it.',
  unstampableEncrypted: 'This PDF is protected against changes (an owner password), so buyers\' copies cannot be stamped and will be the file as uploaded: upload it without the protection to stamp them.',
  unstampableStructure: 'This PDF opens, but its structure is too damaged to add a stamp safely, so buyers\' copies will be the file as uploaded: export it again to stamp them.'
} as const

const text = (value: unknown): string | null => {
  if (typeof value !== 'string') return null
  // Info strings are often padded or carry control characters from old producers.
  const clean = value.replace(/[\u0000-\u001f\u007f]/g, ' ').trim().slice(0, 500) // eslint-disable-line no-control-regex
  return clean === '' ? null : clean
}

export async function inspect (path: string): Promise<Inspection> {
  const bytes = new Uint8Array(await readFile(path))
  if (bytes.length === 0) return { ok: false, reason: REASONS.empty }
  // Readers accept the header anywhere in the first kilobyte (PDF 32000, annex H).
  if (!Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(1024, bytes.length)).includes('%PDF-')) return { ok: false, reason: REASONS.notPdf }
  let reader
  try {
    // pdf.js may take ownership of the buffer it is given: keep ours for the editor.
    reader = await openReader(bytes.slice())
  } catch (error) {
    return { ok: false, reason: errorName(error) === 'PasswordException' ? REASONS.password : REASONS.damaged }
  }
  try {
    const pages = reader.numPages
    if (pages === 0) return { ok: false, reason: REASONS.noPages }
    if (pages > MAX_PAGES) return { ok: false, reason: REASONS.tooMany }
    const info = (await reader.getMetadata()).info as unknown as Record<string, unknown>
    const encrypted = info.EncryptFilterName != null
    const structure = await editorView(bytes, pages, encrypted)
    if (structure === 'cycle') return { ok: false, reason: REASONS.cycle }
    if (structure === 'too-many') return { ok: false, reason: REASONS.tooMany }
    // pdf.js is what readers see: the last page must exist, or the count is a lie.
    await reader.getPage(pages)
    const unstampableReason = structure === 'ok' ? null : structure === 'encrypted' ? REASONS.unstampableEncrypted : REASONS.unstampableStructure
    return { ok: true, facts: { pages, title: text(info.Title), author: text(info.Author), encrypted, stampable: unstampableReason === null, unstampableReason } }
  } catch {
    return { ok: false, reason: REASONS.damaged }
  } finally {
    await reader.destroy()
  }
}

/** Whether the editor sees the same pages as the reader (then it can stamp each of them). */
async function editorView (bytes: Uint8Array, pages: number, encrypted: boolean): Promise<'ok' | 'encrypted' | 'cycle' | 'too-many' | 'unreadable'> {
  let doc
  try {
    doc = await openEditor(bytes)
  } catch {
    return encrypted ? 'encrypted' : 'unreadable'
  }
  const walk = walkPages(doc.context)
  if (!walk.ok) return walk.problem === 'missing' ? 'unreadable' : walk.problem
  if (encrypted) return 'encrypted'
  return walk.pages.length === pages ? 'ok' : 'unreadable'
}
