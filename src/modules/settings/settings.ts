import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Database } from '../../db/types.js'
import { checkTax, DEFAULT_TAX, type TaxFields, type TaxProblems, type TaxSettings, taxFields, taxFromRows } from './tax.js'

/** The store's own words and switches, as every page, receipt and /policies shows them. */
export interface StoreSettings {
  storeName: string
  tagline: string
  contactEmail: string
  /** Markdown. */
  refundPolicy: string
  /** Stripe Checkout offers a promotion-code field when it is on; Mollie has no promotion codes, so there it has no effect. */
  allowPromotionCodes: boolean
  /** Each buyer's download of a paid item is their own stamped copy (src/modules/pdf/). */
  stampPdfs: boolean
  /** Stripe Tax and the seller's details on receipts (see tax.ts). */
  tax: TaxSettings
}

/** The settings form as posted (field names are the HTTP contract's). */
export interface SettingsFields {
  store_name: string
  tagline: string
  contact_email: string
  refund_policy: string
  allow_promotion_codes?: string
  stamp_pdfs?: string
}

export type AllSettingsFields = SettingsFields & TaxFields
export type SettingsProblems = Partial<Record<keyof SettingsFields, string>> & TaxProblems

export type SettingsResult =
  | { settings: StoreSettings }
  | { settings?: undefined, values: AllSettingsFields, problems: SettingsProblems }

export const DEFAULT_SETTINGS: StoreSettings = {
  storeName: 'PDF Market',
  tagline: '',
  contactEmail: '',
  refundPolicy: '',
  allowPromotionCodes: false,
  stampPdfs: false,
  tax: DEFAULT_TAX
}

export const LIMITS = { storeName: 60, tagline: 120, refundPolicy: 20_000, email: 254 } as const

// The form's field names are also the stored keys.
const KEYS = {
  storeName: 'store_name',
  tagline: 'tagline',
  contactEmail: 'contact_email',
  refundPolicy: 'refund_policy',
  allowPromotionCodes: 'allow_promotion_codes',
  stampPdfs: 'stamp_pdfs'
} as const satisfies Record<Exclude<keyof StoreSettings, 'tax'>, string>

// The address rule of <input type="email"> (WHATWG), with at least one dot in the domain: a
// contact address is for people out on the internet, not a local host name.
export const EMAIL = /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+$/

/** Characters, not UTF-16 units: an emoji in a store name counts once. */
const length = (text: string): number => [...text].length

/** A one-line text: runs of white space (a pasted line break, tabs) become one space. */
const oneLine = (text: string): string => text.replace(/\s+/g, ' ').trim()

/** Checks and tidies a posted form: the settings to store, or the values back with what to fix. */
export function checkSettings (fields: AllSettingsFields): SettingsResult {
  const values: SettingsFields = {
    store_name: oneLine(fields.store_name),
    tagline: oneLine(fields.tagline),
    contact_email: fields.contact_email.trim(),
    refund_policy: fields.refund_policy.replace(/\r\n?/g, '\n').trim(),
    ...(fields.allow_promotion_codes === undefined ? {} : { allow_promotion_codes: fields.allow_promotion_codes }),
    ...(fields.stamp_pdfs === undefined ? {} : { stamp_pdfs: fields.stamp_pdfs })
  }
  const tax = checkTax(fields)
  const problems: SettingsProblems = { ...tax.problems }
  if (values.store_name === '') problems.store_name = 'Give the store a name: it is shown at the top of every page.'
  else if (length(values.store_name) > LIMITS.storeName) problems.store_name = `The store name must be at most ${LIMITS.storeName} characters long (it has ${length(values.store_name)}).`
  if (length(values.tagline) > LIMITS.tagline) problems.tagline = `The tagline must be at most ${LIMITS.tagline} characters long (it has ${length(values.tagline)}).`
  if (values.contact_email !== '' && (values.contact_email.length > LIMITS.email || !EMAIL.test(values.contact_email))) {
    problems.contact_email = 'The contact email must be an address like help@example.com, or left empty.'
  }
  if (length(values.refund_policy) > LIMITS.refundPolicy) {
    problems.refund_policy = `The refund policy must be at most ${LIMITS.refundPolicy.toLocaleString('en-US')} characters long (it has ${length(values.refund_policy).toLocaleString('en-US')}).`
  }
  if (values.allow_promotion_codes !== undefined && values.allow_promotion_codes !== '1') {
    problems.allow_promotion_codes = 'Promotion codes are either on (1) or off (left out).'
  }
  if (values.stamp_pdfs !== undefined && values.stamp_pdfs !== '1') {
    problems.stamp_pdfs = 'Stamped copies are either on (1) or off (left out).'
  }
  if (Object.keys(problems).length > 0 || tax.settings === undefined) return { values: { ...values, ...tax.values }, problems }
  return {
    settings: {
      storeName: values.store_name,
      tagline: values.tagline,
      contactEmail: values.contact_email,
      refundPolicy: values.refund_policy,
      allowPromotionCodes: values.allow_promotion_codes === '1',
      stampPdfs: values.stamp_pdfs === '1',
      tax: tax.settings
    }
  }
}

/** The form's values for the current settings. */
export function settingsFields (settings: StoreSettings): AllSettingsFields {
  return {
    store_name: settings.storeName,
    tagline: settings.tagline,
    contact_email: settings.contactEmail,
    refund_policy: settings.refundPolicy,
    ...(settings.allowPromotionCodes ? { allow_promotion_codes: '1' } : {}),
    ...(settings.stampPdfs ? { stamp_pdfs: '1' } : {}),
    ...taxFields(settings.tax)
  }
}

/** The row whose value changes with every save: what another instance compares (see fresh()). */
const REVISION = 'revision'

/**
 * The store's settings, read once at start and kept in memory: every page shows them, so no page
 * pays for reading them all. A save writes the rows and a new revision in one transaction, then
 * replaces the copy. On PostgreSQL several instances share the rows: fresh() asks for the
 * revision (one primary-key lookup) and reloads only when another instance saved since. On SQLite
 * one process serves the file and fresh() asks nothing (a change made to the database by hand
 * shows after a restart).
 */
export async function createSettings (deps: { db: Kysely<Database>, runner: Runner }) {
  const { db, runner } = deps

  const shared = runner.dialect === 'postgres'
  const revisionQuery = db.selectFrom('settings').select('value').where('key', '=', REVISION)
  let revision: string | undefined

  async function load (): Promise<StoreSettings> {
    // The revision read first: a save landing in between makes the next fresh() load again.
    if (shared) revision = (await runner.first(revisionQuery))?.value
    const rows = new Map((await runner.all(db.selectFrom('settings').select(['key', 'value']))).map((row) => [row.key, row.value]))
    const text = (key: keyof typeof KEYS, fallback: string): string => rows.get(KEYS[key]) ?? fallback
    return Object.freeze({
      storeName: text('storeName', DEFAULT_SETTINGS.storeName),
      tagline: text('tagline', DEFAULT_SETTINGS.tagline),
      contactEmail: text('contactEmail', DEFAULT_SETTINGS.contactEmail),
      refundPolicy: text('refundPolicy', DEFAULT_SETTINGS.refundPolicy),
      allowPromotionCodes: rows.get(KEYS.allowPromotionCodes) === '1',
      stampPdfs: rows.get(KEYS.stampPdfs) === '1',
      tax: taxFromRows(rows)
    })
  }

  let current = await load()

  return {
    /**
     * The settings in force as this instance last read them (a frozen object, replaced on every
     * save): for code that runs after fresh() in the same request, or that can live with a
     * moment's delay.
     */
    current (): StoreSettings {
      return current
    },

    /** The settings in force, including another instance's save that committed before this call. */
    async fresh (): Promise<StoreSettings> {
      if (!shared) return current
      if ((await runner.first(revisionQuery))?.value !== revision) current = await load()
      return current
    },

    /** Validates and stores a posted form; the settings in force change only when it is valid. */
    async save (fields: AllSettingsFields): Promise<SettingsResult> {
      const result = checkSettings(fields)
      if (result.settings === undefined) return result
      const settings = result.settings
      const stored: Array<[string, string]> = [
        ...(Object.entries(KEYS) as Array<[Exclude<keyof StoreSettings, 'tax'>, string]>)
          .map(([name, key]): [string, string] => [key, typeof settings[name] === 'boolean' ? (settings[name] ? '1' : '0') : String(settings[name])]),
        ...Object.entries(taxFields(settings.tax, '0'))
      ]
      await runner.transaction(async () => {
        for (const [key, value] of stored) {
          await runner.run(db.insertInto('settings').values({ key, value })
            .onConflict((oc) => oc.column('key').doUpdateSet({ value })))
        }
        const value = randomUUID()
        await runner.run(db.insertInto('settings').values({ key: REVISION, value })
          .onConflict((oc) => oc.column('key').doUpdateSet({ value })))
      })
      current = await load()
      return { settings: current }
    }
  }
}

export type Settings = Awaited<ReturnType<typeof createSettings>>
