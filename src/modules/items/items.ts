import type { Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Content, ContentVersion, Database } from '../../db/types.js'
import { DomainError } from '../../lib/errors.js'
import type { FileStore, PendingFile } from '../../storage/folder-store.js'
import { formatAmount, howToType, minimumCharge, parsePrice, toDecimal } from '../../lib/money.js'
import type { PaymentLinkInfo } from '../purchase/plugin.js'
import { saleFigures } from '../desk/sales.js'
import { checkFields, type ContentFields, type ContentProblems, createFormReceiver, type UploadPart } from './uploads.js'

export const ITEMS_PAGE_SIZE = 50
export const MAX_CHANGELOG = 300

/** One line of the admin's list of items: the item, its sales and whether anyone ever ordered it. */
export interface ItemSummary {
  id: number
  slug: string
  title: string
  price_cents: number
  currency: string
  published: number
  created_at: string
  pay_what_you_want: number
  min_price_cents: number
  /** Sold through this Stripe Payment Link too. */
  payment_link_id: string | null
  /** Sales as the dashboard counts them (see saleFigures): paid orders, refunded or not. */
  sales: number
  /** Sales that had money go back (all or part of it). */
  refunds: number
  /** What the sales kept (less promotion discounts and refunds), in the item's currency. */
  net_cents: number
  /** Orders in any state: an item with any cannot be deleted. */
  orders: number
}

export interface ItemsPage {
  items: ItemSummary[]
  page: number
  pages: number
  total: number
}

export type VersionSummary = Pick<ContentVersion, 'version' | 'file_name' | 'file_size' | 'changelog' | 'created_at'>

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
export type PaymentLinkLookup = ((id: string) => Promise<PaymentLinkInfo | undefined>) | null

export type EditResult =
  | { content: Content, version: number | undefined, leftover: string[], notice: string | null }
  | { content?: undefined, status: 400 | 409 | 502, values: EditFields, problems: EditProblems }

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

/**
 * The creator's items after upload: the list with sales, edits (a new cover, a new PDF as a new
 * version), publishing and deleting. Files go through the store as uploads do: received under a
 * temporary name, renamed into place, then the row committed; a file a row no longer points at
 * is removed only after that commit, so a crash leaves at worst an orphan the store sweep
 * quarantines, never a row pointing at nothing.
 */
export function createItems (deps: { db: Kysely<Database>, runner: Runner, files: FileStore, maxUploadBytes: number }) {
  const { db, runner, files, maxUploadBytes } = deps
  const receiveForm = createFormReceiver(files, maxUploadBytes)
  const byId = (id: number) => db.selectFrom('content').selectAll().where('id', '=', id)
  const latest = (contentId: number) => db.selectFrom('content_versions')
    .select((eb) => eb.fn.max<number | null>('version').as('version')).where('content_id', '=', contentId)

  /** Another item already sold through this Payment Link. */
  async function itemWithLink (linkId: string, exceptId: number): Promise<Pick<Content, 'id' | 'title'> | undefined> {
    return await runner.first(db.selectFrom('content').select(['id', 'title']).where('payment_link_id', '=', linkId).where('id', '!=', exceptId))
  }

  async function latestVersion (contentId: number): Promise<number> {
    // An item put in by hand (a seed, an old backup) without version rows has its one file.
    return (await runner.first(latest(contentId)))?.version ?? 1
  }

  return {
    latestVersion,

    /** The item's versions, newest first. */
    async versions (contentId: number): Promise<VersionSummary[]> {
      return await runner.all(db.selectFrom('content_versions')
        .select(['version', 'file_name', 'file_size', 'changelog', 'created_at'])
        .where('content_id', '=', contentId).orderBy('version', 'desc'))
    },

    async version (contentId: number, version: number): Promise<ContentVersion | undefined> {
      return await runner.first(db.selectFrom('content_versions').selectAll()
        .where('content_id', '=', contentId).where('version', '=', version))
    },

    /** Every item, published or not, newest first, with its sales. */
    async items (page: number): Promise<ItemsPage> {
      const total = (await runner.first(db.selectFrom('content').select((eb) => eb.fn.countAll<number>().as('total'))))!.total
      const pages = Math.max(1, Math.ceil(total / ITEMS_PAGE_SIZE))
      const current = Math.min(Math.max(1, page), pages)
      const rows = await runner.all(db.selectFrom('content')
        .select(['id', 'slug', 'title', 'price_cents', 'currency', 'published', 'created_at', 'pay_what_you_want', 'min_price_cents', 'payment_link_id'])
        .orderBy('created_at', 'desc').orderBy('id', 'desc')
        .limit(ITEMS_PAGE_SIZE).offset((current - 1) * ITEMS_PAGE_SIZE))
      const sales = new Map(rows.length === 0
        ? []
        : (await runner.all(db.selectFrom('orders')
            .select((eb) => ['content_id', eb.fn.countAll<number>().as('orders'), saleFigures.sales(), saleFigures.refunds(), saleFigures.net()])
            .where('content_id', 'in', rows.map((row) => row.id))
            .groupBy('content_id'))).map((row) => [row.content_id, row]))
      const items = rows.map((row) => {
        const sold = sales.get(row.id)
        return { ...row, sales: sold?.sales ?? 0, refunds: sold?.refunds ?? 0, net_cents: sold?.net ?? 0, orders: sold?.orders ?? 0 }
      })
      return { items, page: current, pages, total }
    },

    /**
     * An edit, from the form's parts to the updated row: the title is required, the other fields
     * keep their value when left out; a new cover replaces the old (whose file is removed after
     * the commit); a new PDF becomes the next version, with its changelog line. The slug never
     * changes. Whatever fails, nothing received is left behind.
     */
    async receiveEdit (content: Content, parts: AsyncIterable<UploadPart>, fields: Record<string, string>, paymentLink: PaymentLinkLookup = null): Promise<EditResult> {
      const problems: EditProblems = {}
      const received: PendingFile[] = []
      let stored = false
      try {
        const chosen = await receiveForm(parts, fields, received, problems)
        const values: EditFields = {
          title: fields.title ?? '',
          description: fields.description ?? content.description,
          price: fields.price ?? toDecimal(content.price_cents, content.currency),
          changelog: (fields.changelog ?? '').trim(),
          payment_link_id: (fields.payment_link_id ?? content.payment_link_id ?? '').trim(),
          // A client that sends neither field (one that predates them) keeps the item as it is;
          // the browser's form always sends min_price, so there an unticked box means fixed.
          pay_what_you_want: (fields.pay_what_you_want ?? (fields.min_price === undefined && content.pay_what_you_want === 1 ? '1' : '')) === '' ? '' : '1',
          min_price: (fields.min_price ?? toDecimal(content.min_price_cents, content.currency)).trim()
        }
        Object.assign(problems, checkFields(values, content.currency))
        const changelogProblem = checkChangelog(values.changelog, chosen.file !== undefined || problems.file !== undefined)
        if (changelogProblem !== undefined) problems.changelog = changelogProblem
        if (fields.pay_what_you_want !== undefined && fields.pay_what_you_want !== '1') {
          problems.pay_what_you_want = 'Pay what you want is either on (1) or off (left out).'
        }
        Object.assign(problems, checkPayWhatYouWant(values, content.currency))
        const linkId = values.payment_link_id
        const newLink = linkId !== '' && linkId !== content.payment_link_id
        // Under Mollie the field is disabled (not sent): a link stored under Stripe stays as it was.
        if (paymentLink === null && newLink) {
          problems.payment_link_id = PAYMENT_LINKS_ARE_STRIPE
        } else if (newLink && !PAYMENT_LINK_ID.test(linkId)) {
          problems.payment_link_id = 'A Payment Link id starts with plink_ followed by letters and digits: copy it from the link\'s page in your Stripe dashboard.'
        }
        if (Object.keys(problems).length > 0) return { status: 400, values, problems }
        const usedBy = newLink ? await itemWithLink(linkId, content.id) : undefined
        const linkTaken = (title: string): EditResult => ({ status: 409, values, problems: { payment_link_id: `This Payment Link already sells "${title}". A link sells one item: create another link in Stripe for this one.` } })
        if (usedBy !== undefined) return linkTaken(usedBy.title)

        // A new link is checked with Stripe before anything is stored; an unchanged one is not
        // (an edit of the title should not need Stripe to answer).
        let link: PaymentLinkInfo | undefined
        if (newLink) {
          try {
            link = await paymentLink!(linkId)
          } catch (error) {
            if (!(error instanceof DomainError) || error.kind !== 'upstream') throw error
            return { status: 502, values, problems: { payment_link_id: error.message } }
          }
          if (link === undefined) return { status: 400, values, problems: { payment_link_id: 'Stripe does not know this Payment Link. Check the id (plink_...) on the link\'s page in your Stripe dashboard, in the same mode (test or live) as the store\'s key.' } }
        }

        if (chosen.file !== undefined) await files.commit(chosen.file)
        if (chosen.preview !== undefined) await files.commit(chosen.preview)
        let taken: string | undefined
        const save = async () => await runner.transaction(async () => {
          const current = await runner.first(byId(content.id))
          if (current === undefined) throw new DomainError('not_found', NO_LONGER_THERE)
          // Checked again here: another edit may have taken the link while Stripe was asked.
          taken = link === undefined ? undefined : (await itemWithLink(link.id, content.id))?.title
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
            ...(linkId === '' ? { payment_link_id: null, payment_link_url: null } : {}),
            ...(link === undefined ? {} : { payment_link_id: link.id, payment_link_url: link.url }),
            ...file,
            ...(chosen.preview === undefined ? {} : { preview_key: chosen.preview.key })
          }).where('id', '=', current.id).returningAll()))!
          let version: number | undefined
          if (chosen.file !== undefined) {
            version = (await latestVersion(current.id)) + 1
            await runner.run(db.insertInto('content_versions').values({ content_id: current.id, version, ...file as Required<typeof file>, changelog: values.changelog }))
          }
          return { updated, version, replacedPreview: chosen.preview === undefined ? undefined : current.preview_key }
        })
        let saved: Awaited<ReturnType<typeof save>>
        try {
          saved = await save()
        } catch (error) {
          if (taken !== undefined) return linkTaken(taken)
          throw error
        }
        const { updated, version, replacedPreview } = saved
        stored = true
        // The row points at the new cover now: the old one's file can go. Should that fail, the
        // edit stands and the caller hears which file was left.
        const leftover: string[] = []
        if (replacedPreview !== undefined && replacedPreview !== updated.preview_key) {
          await files.remove(replacedPreview).catch(() => { leftover.push(replacedPreview) })
        }
        const notice = link?.active === false
          ? `The Payment Link ${link.id} is inactive in Stripe: buyers cannot pay through it until you activate it in your Stripe dashboard.`
          : null
        return { content: updated, version, leftover, notice }
      } finally {
        if (!stored) await Promise.all(received.map(async (file) => { await files.discard(file) }))
      }
    },

    /** Lists the item in the catalogue again, or takes it off sale; owners keep it either way. */
    async setPublished (contentId: number, published: boolean): Promise<boolean> {
      return (await runner.run(db.updateTable('content').set({ published: published ? 1 : 0 }).where('id', '=', contentId))).changes > 0
    },

    /**
     * Deletes an item nobody ever ordered: its row and its versions in one transaction, then
     * every file it had. A crash in between leaves only files no row refers to, which the
     * store sweep quarantines. An item with orders (any state) is refused: buyers keep what
     * they paid for, so it can only be unpublished.
     */
    async remove (content: Content): Promise<{ files: number, leftover: string[] }> {
      const keys = await runner.transaction(async () => {
        const ordered = await runner.first(db.selectFrom('orders').select('id').where('content_id', '=', content.id).limit(1))
        if (ordered !== undefined) {
          throw new DomainError('conflict', `"${content.title}" has orders, so it cannot be deleted: its buyers keep what they paid for. Unpublish it instead: it leaves the catalogue and nobody new can buy it.`)
        }
        const current = await runner.first(byId(content.id))
        if (current === undefined) throw new DomainError('not_found', 'This item was already deleted.')
        const versions = await runner.all(db.selectFrom('content_versions').select('file_key').where('content_id', '=', content.id))
        await runner.run(db.deleteFrom('content_versions').where('content_id', '=', content.id))
        await runner.run(db.deleteFrom('downloads').where('content_id', '=', content.id))
        await runner.run(db.deleteFrom('free_library').where('content_id', '=', content.id))
        await runner.run(db.deleteFrom('content').where('id', '=', content.id))
        return [...new Set([current.file_key, current.preview_key, ...versions.map((row) => row.file_key)])]
      })
      const leftover: string[] = []
      for (const key of keys) await files.remove(key).catch(() => { leftover.push(key) })
      return { files: keys.length - leftover.length, leftover }
    },

    /** Every stored file a row refers to, with its item's slug: latest files, covers and every version. */
    async referencedKeys (): Promise<Map<string, string>> {
      const referenced = new Map<string, string>()
      for (const row of await runner.all(db.selectFrom('content').select(['slug', 'file_key', 'preview_key']))) {
        referenced.set(row.file_key, row.slug)
        referenced.set(row.preview_key, row.slug)
      }
      const versions = await runner.all(db.selectFrom('content_versions').innerJoin('content', 'content.id', 'content_versions.content_id')
        .select(['content.slug', 'content_versions.file_key']))
      for (const row of versions) referenced.set(row.file_key, row.slug)
      return referenced
    }
  }
}

export type Items = ReturnType<typeof createItems>
