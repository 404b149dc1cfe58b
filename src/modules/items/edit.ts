import type { Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Content, Database } from '../../db/types.js'
import { DomainError } from '../../lib/errors.js'
import { formatAmount, howToType, minimumCharge, parsePrice, toDecimal } from '../../lib/money.js'
import type { FileStore, PendingFile } from '../../storage/store.js'
import { type ChosenFiles, checkFields, type ContentFields, type ContentProblems, createFormReceiver, type FormEntry, inspectPdf, type PdfHooks, previewNumbers, type Reading, versionFacts } from './uploads.js'
import { createVersions } from './versions.js'

export const MAX_CHANGELOG = 300

/** A Stripe Payment Link as the provider reports it. */
export interface PaymentLink {
  id: string
  url: string
  active: boolean
}

export interface EditFields extends ContentFields {
  changelog: string
  /** A Stripe Payment Link id (plink_...); empty: none. */
  payment_link_id: string
  /** '1': the buyer names the amount (the price is the suggestion); '': a fixed price. */
  pay_what_you_want: '1' | ''
  /** The least a pay-what-you-want buyer pays, a decimal in the item's currency. */
  min_price: string
}

export interface EditProblems extends ContentProblems {
  changelog?: string
  payment_link_id?: string
  pay_what_you_want?: string
  min_price?: string
}

/** How the edit reaches Stripe's Payment Links: null when the provider has none (Mollie). */
export type PaymentLinkLookup = ((id: string) => Promise<PaymentLink | undefined>) | null

/**
 * An edit saved, or why not: its fields or files (`invalid`), a Payment Link another item sells
 * through (`conflict`), or Stripe not answering about the link (`upstream`).
 */
export type EditResult =
  | { ok: true, content: Content, version: number | undefined, leftover: string[], notice: string | null }
  | { ok: false, kind: 'invalid' | 'conflict' | 'upstream', values: EditFields, problems: EditProblems }

/** Payment Link ids as Stripe makes them. */
export const PAYMENT_LINK_ID = /^plink_[A-Za-z0-9]{1,200}$/

export const PAYMENT_LINKS_ARE_STRIPE = 'Payment Links are a Stripe feature: with Mollie as the payment provider an item cannot have one.'

/**
 * Checks the pay-what-you-want fields: the minimum is 0 (free, tips welcome) or a charge Stripe
 * takes, and at most the price, which is the amount suggested to the buyer.
 */
export function checkPayWhatYouWant (values: EditFields, currency: string): Pick<EditProblems, 'pay_what_you_want' | 'min_price'> {
  if (values.pay_what_you_want === '') return {}
  const minimum = parsePrice(values.min_price, currency)
  if (values.min_price.trim() === '') return { min_price: 'Type the least a buyer pays: 0 makes it free, with tips welcome.' }
  if (minimum === undefined) return { min_price: `The minimum must be a price in ${currency.toUpperCase()}, or 0. Type it ${howToType(currency, minimumCharge(currency))}.` }
  if (minimum > 0 && minimum < minimumCharge(currency)) {
    return { min_price: `A minimum above 0 must be at least ${formatAmount(minimumCharge(currency), currency)}, the lowest charge card payments take. Use 0 to let readers take it free and tip if they like.` }
  }
  const suggested = parsePrice(values.price, currency)
  if (suggested !== undefined && minimum > suggested) {
    return { min_price: `The minimum must not be more than the price, which buyers see as the suggested amount (${formatAmount(suggested, currency)}).` }
  }
  return {}
}

const NO_LONGER_THERE = 'This item was deleted meanwhile, so nothing was changed.'

/** Checks a changelog line; it is required only with a new PDF. */
function checkChangelog (changelog: string, withFile: boolean): string | undefined {
  if (changelog.length > MAX_CHANGELOG) return `The changelog must be at most ${MAX_CHANGELOG} characters long.`
  if (withFile && changelog === '') return 'Say in a line what changed in the new PDF (at most 300 characters): buyers see it beside the version.'
  return undefined
}

/** The form's values: the title is required, the other fields keep their value when left out. */
function editValues (content: Content, fields: Record<string, string>): EditFields {
  return {
    title: fields.title ?? '',
    description: fields.description ?? content.description,
    price: fields.price ?? toDecimal(content.price_cents, content.currency),
    changelog: (fields.changelog ?? '').trim(),
    payment_link_id: (fields.payment_link_id ?? content.payment_link_id ?? '').trim(),
    // A client that sends neither field (one that predates them) keeps the item as it is;
    // the browser's form always sends min_price, so there an unticked box means fixed.
    pay_what_you_want: (fields.pay_what_you_want ?? (fields.min_price === undefined && content.pay_what_you_want === 1 ? '1' : '')) === '' ? '' : '1',
    min_price: (fields.min_price ?? toDecimal(content.min_price_cents, content.currency)).trim(),
    preview_pages: fields.preview_pages ?? String(content.preview_pages),
    sample_pages: fields.sample_pages ?? String(content.sample_pages)
  }
}

/** Everything wrong with the edit's values that needs no database or Stripe to tell. */
function checkEdit (content: Content, values: EditFields, fields: Record<string, string>, withFile: boolean, paymentLinks: boolean): EditProblems {
  const problems: EditProblems = checkFields(values, content.currency)
  const changelogProblem = checkChangelog(values.changelog, withFile)
  if (changelogProblem !== undefined) problems.changelog = changelogProblem
  if (fields.pay_what_you_want !== undefined && fields.pay_what_you_want !== '1') {
    problems.pay_what_you_want = 'Pay what you want is either on (1) or off (left out).'
  }
  Object.assign(problems, checkPayWhatYouWant(values, content.currency))
  const linkId = values.payment_link_id
  const newLink = linkId !== '' && linkId !== content.payment_link_id
  // Under Mollie the field is disabled (not sent): a link stored under Stripe stays as it was.
  if (!paymentLinks && newLink) {
    problems.payment_link_id = PAYMENT_LINKS_ARE_STRIPE
  } else if (newLink && !PAYMENT_LINK_ID.test(linkId)) {
    problems.payment_link_id = 'A Payment Link id starts with plink_ followed by letters and digits: copy it from the link\'s page in your Stripe dashboard.'
  }
  return problems
}

const linkTaken = (title: string): EditProblems =>
  ({ payment_link_id: `This Payment Link already sells "${title}". A link sells one item: create another link in Stripe for this one.` })

interface EditDeps { db: Kysely<Database>, runner: Runner, files: FileStore, maxUploadBytes: number, pdf?: PdfHooks }

/** Another item already sold through this Payment Link. */
async function itemWithLink ({ db, runner }: EditDeps, linkId: string, exceptId: number): Promise<Pick<Content, 'id' | 'title'> | undefined> {
  return await runner.first(db.selectFrom('content').select(['id', 'title']).where('payment_link_id', '=', linkId).where('id', '!=', exceptId))
}

/** The row and, with a new PDF, its next version, in one transaction; the files are in place by then. */
async function save (deps: EditDeps, content: Content, values: EditFields, chosen: ChosenFiles, link: PaymentLink | undefined, reading: Reading) {
  const { db, runner, pdf } = deps
  const { latestVersion } = createVersions(deps)
  return await runner.transaction(async () => {
    const current = await runner.first(db.selectFrom('content').selectAll().where('id', '=', content.id))
    if (current === undefined) throw new DomainError('not_found', NO_LONGER_THERE)
    // Checked again here: another edit may have taken the link while Stripe was asked.
    const taken = link === undefined ? undefined : (await itemWithLink(deps, link.id, content.id))?.title
    if (taken !== undefined) throw new DomainError('conflict', taken)
    const file = chosen.file === undefined
      ? {}
      : { file_key: chosen.file.key, file_name: chosen.file.originalName.slice(0, 255), file_size: chosen.file.size, sha256: chosen.file.sha256 }
    const updated = (await runner.first(db.updateTable('content').set({
      title: values.title.trim(),
      description: values.description.trim(),
      price_cents: parsePrice(values.price, current.currency)!,
      pay_what_you_want: values.pay_what_you_want === '1' ? 1 : 0,
      min_price_cents: values.pay_what_you_want === '1' ? parsePrice(values.min_price, current.currency)! : 0,
      ...(values.payment_link_id === '' ? { payment_link_id: null, payment_link_url: null } : {}),
      ...(link === undefined ? {} : { payment_link_id: link.id, payment_link_url: link.url }),
      ...file,
      ...(chosen.preview === undefined ? {} : { preview_key: chosen.preview.key }),
      ...previewNumbers(values),
      ...(chosen.file === undefined ? {} : { page_count: reading !== undefined && 'facts' in reading ? reading.facts.pages : null })
    }).where('id', '=', current.id).returningAll()))!
    let version: number | undefined
    if (chosen.file !== undefined) {
      version = (await latestVersion(current.id)) + 1
      await runner.run(db.insertInto('content_versions').values({ content_id: current.id, version, ...file as Required<typeof file>, changelog: values.changelog, ...versionFacts(reading) }))
    }
    // A new version's page images and sample, or the latest one's for new preview settings
    // (a job already made is not made again).
    if (version !== undefined || updated.preview_pages !== current.preview_pages || updated.sample_pages !== current.sample_pages) {
      await pdf?.queueFor(updated, version ?? await latestVersion(current.id), updated.page_count)
    }
    return { updated, version, replacedPreview: chosen.preview === undefined ? undefined : current.preview_key }
  })
}

/**
 * Edits of an item: a new cover, a new PDF as a new version, its price and Payment Link. Files
 * go through the store as uploads do: received under a temporary name, renamed into place, then
 * the row committed; a file a row no longer points at is removed only after that commit, so a
 * crash leaves at worst an orphan the store sweep quarantines, never a row pointing at nothing.
 */
export function createEdits (deps: EditDeps) {
  const { files, maxUploadBytes } = deps
  const receiveForm = createFormReceiver(files, maxUploadBytes)

  /**
   * A new link, checked with Stripe before anything is stored; an unchanged one is not (an edit
   * of the title should not need Stripe to answer). Otherwise the refusal, with its kind.
   */
  async function checkLink (content: Content, linkId: string, lookup: PaymentLinkLookup): Promise<{ link?: PaymentLink } | { kind: 'conflict' | 'upstream' | 'invalid', problems: EditProblems }> {
    if (linkId === '' || linkId === content.payment_link_id) return {}
    const usedBy = await itemWithLink(deps, linkId, content.id)
    if (usedBy !== undefined) return { kind: 'conflict', problems: linkTaken(usedBy.title) }
    let link: PaymentLink | undefined
    try {
      link = await lookup!(linkId)
    } catch (error) {
      if (!(error instanceof DomainError) || error.kind !== 'upstream') throw error
      return { kind: 'upstream', problems: { payment_link_id: error.message } }
    }
    if (link === undefined) return { kind: 'invalid', problems: { payment_link_id: 'Stripe does not know this Payment Link. Check the id (plink_...) on the link\'s page in your Stripe dashboard, in the same mode (test or live) as the store\'s key.' } }
    return { link }
  }

  /** Renames the chosen files into place and saves; a link taken meanwhile is a refusal, not an error. */
  async function store (content: Content, values: EditFields, chosen: ChosenFiles, link: PaymentLink | undefined, reading: Reading): Promise<EditResult> {
    if (chosen.file !== undefined) await files.commit(chosen.file)
    if (chosen.preview !== undefined) await files.commit(chosen.preview)
    let saved: Awaited<ReturnType<typeof save>>
    try {
      saved = await save(deps, content, values, chosen, link, reading)
      deps.pdf?.kick()
    } catch (error) {
      if (link !== undefined && error instanceof DomainError && error.kind === 'conflict') return { ok: false, kind: 'conflict', values, problems: linkTaken(error.message) }
      throw error
    }
    const { updated, version, replacedPreview } = saved
    // The row points at the new cover now: the old one's file can go. Should that fail, the
    // edit stands and the caller hears which file was left.
    const leftover: string[] = []
    if (replacedPreview !== undefined && replacedPreview !== updated.preview_key) {
      await files.remove(replacedPreview).catch(() => { leftover.push(replacedPreview) })
    }
    const notice = link?.active === false
      ? `The Payment Link ${link.id} is inactive in Stripe: buyers cannot pay through it until you activate it in your Stripe dashboard.`
      : null
    return { ok: true, content: updated, version, leftover, notice }
  }

  return {
    /**
     * An edit, from the form's entries to the updated row: the title is required, the other
     * fields keep their value when left out; a new cover replaces the old (whose file is removed
     * after the commit); a new PDF becomes the next version, with its changelog line. The slug
     * never changes. Whatever fails, nothing received is left behind.
     */
    async receiveEdit (content: Content, entries: AsyncIterable<FormEntry>, fields: Record<string, string>, paymentLink: PaymentLinkLookup = null): Promise<EditResult> {
      const received: PendingFile[] = []
      let stored = false
      try {
        const problems: EditProblems = {}
        const chosen = await receiveForm(entries, fields, received, problems)
        const values = editValues(content, fields)
        Object.assign(problems, checkEdit(content, values, fields, chosen.file !== undefined || problems.file !== undefined, paymentLink !== null))
        if (Object.keys(problems).length > 0) return { ok: false, kind: 'invalid', values, problems }
        const reading = chosen.file === undefined ? undefined : await inspectPdf(deps.pdf, chosen.file)
        const checked = await checkLink(content, values.payment_link_id, paymentLink)
        if ('kind' in checked) return { ok: false, kind: checked.kind, values, problems: checked.problems }
        const result = await store(content, values, chosen, checked.link, reading)
        stored = result.ok
        return result
      } finally {
        if (!stored) await Promise.all(received.map(async (file) => { await files.discard(file) }))
      }
    }
  }
}
