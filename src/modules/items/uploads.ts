import type { Readable } from 'node:stream'
import type { Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Content, Database } from '../../db/types.js'
import { DomainError } from '../../lib/errors.js'
import { type FileStore, type PendingFile, sniffImage, sniffPdf } from '../../storage/store.js'
import { formatAmount, minimumCharge, parsePrice, priceRule } from '../../lib/money.js'
import { slugify } from '../../lib/slugs.js'
import { DEFAULT_PREVIEW_PAGES, type Inspection, MAX_PREVIEW_PAGES, MAX_SAMPLE_PAGES, type PdfFacts } from '../pdf/plugin.js'

export const MAX_PREVIEW_BYTES = 5 * 1024 * 1024

export interface ContentFields {
  title: string
  description: string
  price: string
  /** How many first pages anyone may look at (0-10), and how many the free sample has (0: none). */
  preview_pages: string
  sample_pages: string
}

/**
 * What items need of the PDF module (src/modules/pdf/): what an uploaded PDF is, and the jobs a
 * new version (or new preview settings) needs, added in the caller's transaction. Absent (a
 * script seeding the database), PDFs are taken as they come and nothing is made from them.
 */
export interface PdfHooks {
  inspect: (file: PendingFile) => Promise<Inspection>
  queueFor: (content: Pick<Content, 'id' | 'preview_pages' | 'sample_pages'>, version: number, pageCount: number | null) => Promise<void>
  kick: () => void
}

/**
 * What the PDF engine made of an upload: its facts, or why it could not read it. An unreadable
 * PDF (damaged, password-protected, no pages) is still accepted, since a creator may sell a file
 * only some readers open, and is flagged with why: no page images, sample or stamp are made
 * from it. Undefined without the PDF module (a script seeding the database).
 */
export type Reading = { facts: PdfFacts } | { unreadable: string } | undefined

/** A version's facts as its row keeps them (an unreadable one: no page count, and why). */
export function versionFacts (reading: Reading) {
  if (reading === undefined) return {}
  if ('unreadable' in reading) return { page_count: null, stamp_problem: reading.unreadable }
  const { facts } = reading
  return { page_count: facts.pages, pdf_title: facts.title?.slice(0, 500) ?? null, pdf_author: facts.author?.slice(0, 500) ?? null, stamp_problem: facts.stampable ? null : (facts.unstampableReason ?? 'This PDF cannot be stamped.') }
}

/** Reads the PDF in a worker thread; one the engine cannot read is said so, not refused. */
export async function inspectPdf (pdf: PdfHooks | undefined, file: PendingFile): Promise<Reading> {
  if (pdf === undefined) return undefined
  try {
    const inspection = await pdf.inspect(file)
    return inspection.ok ? { facts: inspection.facts } : { unreadable: inspection.reason }
  } catch (error) {
    // The engine gave up on it (too slow, too large to hold, it crashed its thread).
    if (!(error instanceof DomainError) || error.kind !== 'invalid') throw error
    return { unreadable: error.message }
  }
}

/** A whole number from `min` to `max` typed in a form field; undefined when it is not one. */
function wholeNumber (value: string, min: number, max: number): number | undefined {
  const text = value.trim()
  if (!/^\d{1,6}$/.test(text)) return undefined
  const n = Number(text)
  return n >= min && n <= max ? n : undefined
}

/** The preview fields as numbers (the checks below passed). */
export const previewNumbers = (fields: Pick<ContentFields, 'preview_pages' | 'sample_pages'>) =>
  ({ preview_pages: Number(fields.preview_pages.trim()), sample_pages: Number(fields.sample_pages.trim()) })

/** Defaults of a new item's preview fields, and the value a form left out. */
export const DEFAULT_PREVIEW_FIELDS = { preview_pages: String(DEFAULT_PREVIEW_PAGES), sample_pages: '0' } as const

export interface ContentProblems {
  title?: string
  description?: string
  price?: string
  file?: string
  preview?: string
  preview_pages?: string
  sample_pages?: string
}

/**
 * One entry of a form, in the order it was sent: a text field, or a file as a stream with the
 * name the browser gave it (empty when the input was left empty).
 */
export type FormEntry =
  | { name: string, value: string }
  | { name: string, fileName: string, stream: Readable }

/** Why a form was refused: its fields or files (`invalid`), or another item in the way (`conflict`). */
export type UploadResult =
  | { ok: true, content: Content }
  | { ok: false, kind: 'invalid' | 'conflict', values: ContentFields, problems: ContentProblems }

/** Checks the text fields of an upload, the price in the store's currency; an empty object means they are fine. */
export function checkFields (fields: ContentFields, currency: string): ContentProblems {
  const problems: ContentProblems = {}
  const title = fields.title.trim()
  // Counted in characters, not UTF-16 units: a two-character Chinese title (論語) is a whole title.
  const length = [...title].length
  if (length === 0) problems.title = 'Give the item a title (up to 120 characters).'
  else if (length > 120) problems.title = 'The title must be at most 120 characters long.'
  else if (slugify(title) === '') problems.title = 'The title needs at least one letter or digit (of any alphabet): punctuation and emoji alone cannot make the item\'s address.'
  if (fields.description.length > 5000) problems.description = 'The description must be at most 5,000 characters long.'
  const price = parsePrice(fields.price, currency)
  if (price === undefined) {
    problems.price = priceRule(currency)
  } else if (price > 0 && price < minimumCharge(currency)) {
    // Stripe would refuse the checkout: better to say so now than to a buyer later.
    problems.price = `The lowest price Stripe accepts in ${currency.toUpperCase()} is ${formatAmount(minimumCharge(currency), currency)}. Use 0 for a free item.`
  }
  if (wholeNumber(fields.preview_pages, 0, MAX_PREVIEW_PAGES) === undefined) problems.preview_pages = `Type how many first pages anyone may look at: a whole number from 0 to ${MAX_PREVIEW_PAGES}.`
  if (wholeNumber(fields.sample_pages, 0, MAX_SAMPLE_PAGES) === undefined) problems.sample_pages = `Type how many first pages the free sample has: a whole number from 0 (no sample) to ${MAX_SAMPLE_PAGES}.`
  return problems
}

/** The files a form chose, received under temporary names. */
export interface ChosenFiles {
  file?: PendingFile & { originalName: string }
  preview?: PendingFile
}

/**
 * Streams a form's files (`file`: a PDF, `preview`: a cover) into the store under temporary
 * names, checking them as they pass, and collects the text fields that come after them. Every
 * received file is pushed to `received` at once, so the caller can discard them whatever
 * happens; a refused file becomes a sentence in `problems`.
 */
export function createFormReceiver (files: FileStore, maxUploadBytes: number) {
  const receivePdf = async (stream: Readable): Promise<PendingFile> =>
    await files.receive(stream, { label: 'PDF', maxBytes: maxUploadBytes, sniff: sniffPdf, wrongType: 'The file must be a PDF (it should start with %PDF-).' })

  const receivePreview = async (stream: Readable): Promise<PendingFile> =>
    await files.receive(stream, { label: 'preview image', maxBytes: MAX_PREVIEW_BYTES, sniff: sniffImage, wrongType: 'The preview must be a PNG, JPEG or WebP image.' })

  return async function receiveForm (entries: AsyncIterable<FormEntry>, fields: Record<string, string>, received: PendingFile[], problems: ContentProblems): Promise<ChosenFiles> {
    const chosen: ChosenFiles = {}
    for await (const entry of entries) {
      if ('value' in entry) { fields[entry.name] = entry.value; continue }
      const slot = entry.name === 'file' || entry.name === 'preview' ? entry.name : undefined
      // A file input left empty is sent as a part with no file name and no bytes: nothing chosen.
      if (slot === undefined || entry.fileName === '' || chosen[slot] !== undefined || problems[slot] !== undefined) {
        entry.stream.resume() // not ours, none chosen, or a second one: read past it
        continue
      }
      try {
        const pending = await (slot === 'file' ? receivePdf(entry.stream) : receivePreview(entry.stream))
        received.push(pending)
        if (slot === 'file') chosen.file = { ...pending, originalName: entry.fileName }
        else chosen.preview = pending
      } catch (error) {
        if (!(error instanceof DomainError)) throw error
        problems[slot] = error.message
      }
    }
    return chosen
  }
}

/** New items, from an upload form's entries to a stored row and its files. */
export function createUploads (deps: { db: Kysely<Database>, runner: Runner, files: FileStore, currency: string, maxUploadBytes: number, pdf?: PdfHooks }) {
  const { db, runner, files, currency, maxUploadBytes, pdf } = deps
  const bySlug = (slug: string) => db.selectFrom('content').selectAll().where('slug', '=', slug)
  const receiveForm = createFormReceiver(files, maxUploadBytes)

  /** Renames the files into place, then commits the row; the caller discards the files on failure. */
  async function create (fields: ContentFields, file: PendingFile & { originalName: string }, preview: PendingFile, reading: Reading): Promise<Content> {
    const title = fields.title.trim()
    const slug = slugify(title)
    const taken = new DomainError('conflict', `An item with the address /content/${slug} already exists. Choose another title.`)
    if (await runner.first(bySlug(slug)) !== undefined) throw taken
    await files.commit(file)
    await files.commit(preview)
    const stored = { file_key: file.key, file_name: file.originalName.slice(0, 255), file_size: file.size, sha256: file.sha256 }
    try {
      // The item and its version 1 together: no item is ever without the version it sells.
      return await runner.transaction(async () => {
        const content = (await runner.first(db.insertInto('content').values({
          slug,
          title,
          description: fields.description.trim(),
          price_cents: parsePrice(fields.price, currency)!,
          currency,
          ...stored,
          preview_key: preview.key,
          ...previewNumbers(fields),
          page_count: reading !== undefined && 'facts' in reading ? reading.facts.pages : null
        }).returningAll()))!
        await runner.run(db.insertInto('content_versions').values({ content_id: content.id, version: 1, ...stored, created_at: content.created_at, ...versionFacts(reading) }))
        // The page images and the sample are made after this answer, by a job written with the item.
        await pdf?.queueFor(content, 1, content.page_count)
        return content
      })
    } catch (error) {
      // Two uploads with the same title at the same moment: the unique index decides.
      // (SQLite's code, PostgreSQL's unique_violation.)
      const code = (error as { code?: string }).code
      if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505') throw taken
      throw error
    }
  }

  return {
    /**
     * An upload, from the form's entries to a stored item: the files are streamed to the store and
     * checked as they pass, the fields validated, then the files are renamed into place and the
     * row committed. Whatever fails, nothing received is left behind (this is the only cleanup).
     */
    async receiveUpload (entries: AsyncIterable<FormEntry>, fields: Record<string, string>): Promise<UploadResult> {
      const problems: ContentProblems = {}
      const received: PendingFile[] = []
      let stored = false
      try {
        const chosen = await receiveForm(entries, fields, received, problems)
        const values: ContentFields = {
          title: fields.title ?? '',
          description: fields.description ?? '',
          price: fields.price ?? '',
          preview_pages: fields.preview_pages ?? DEFAULT_PREVIEW_FIELDS.preview_pages,
          sample_pages: fields.sample_pages ?? DEFAULT_PREVIEW_FIELDS.sample_pages
        }
        Object.assign(problems, checkFields(values, currency))
        if (chosen.file === undefined) problems.file ??= 'Choose a PDF to sell.'
        if (chosen.preview === undefined) problems.preview ??= 'Choose a cover image (PNG, JPEG or WebP).'
        if (Object.keys(problems).length > 0 || chosen.file === undefined || chosen.preview === undefined) {
          return { ok: false, kind: 'invalid', values, problems }
        }
        const reading = await inspectPdf(pdf, chosen.file)
        try {
          const content = await create(values, chosen.file, chosen.preview, reading)
          stored = true
          pdf?.kick()
          return { ok: true, content }
        } catch (error) {
          if (!(error instanceof DomainError) || error.kind !== 'conflict') throw error
          return { ok: false, kind: 'conflict', values, problems: { title: error.message } }
        }
      } finally {
        if (!stored) await Promise.all(received.map(async (file) => { await files.discard(file) }))
      }
    }
  }
}
