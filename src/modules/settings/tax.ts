import type { TaxBehavior } from '../../db/types.js'

/**
 * The store's tax settings (DESIGN.md "Tax and invoices (Stripe)"): whether Stripe Tax computes
 * the tax at checkout, whether prices are before tax (exclusive) or include it (inclusive), the
 * Stripe tax code the items are sold under, whether Stripe makes an invoice for each payment, and
 * the seller's own details for receipts. What stays the seller's job (registering for tax where
 * they must, filing the returns) the settings page says.
 */
export interface TaxSettings {
  automaticTax: boolean
  taxBehavior: TaxBehavior
  /** A Stripe product tax code: txcd_ and eight digits. */
  taxCode: string
  invoices: boolean
  sellerName: string
  /** Lines as the seller typed them (a postal address). */
  sellerAddress: string
  sellerTaxId: string
}

/** The form's fields (and the stored keys), as the HTTP contract names them. */
export interface TaxFields {
  automatic_tax?: string
  tax_behavior?: string
  tax_code?: string
  invoices?: string
  seller_name?: string
  seller_address?: string
  seller_tax_id?: string
}

export type TaxProblems = Partial<Record<keyof TaxFields, string>>

/** E-books (Stripe's "Digital Books - downloaded"): what this store sells. */
export const EBOOK_TAX_CODE = 'txcd_10302000'

export const DEFAULT_TAX: TaxSettings = {
  automaticTax: false,
  // A price as the catalogue shows it is what the buyer pays: the tax is inside it.
  taxBehavior: 'inclusive',
  taxCode: EBOOK_TAX_CODE,
  invoices: false,
  sellerName: '',
  sellerAddress: '',
  sellerTaxId: ''
}

export const TAX_LIMITS = { sellerName: 100, sellerAddress: 400, sellerTaxId: 40 } as const

const TAX_CODE = /^txcd_\d{8}$/
/** Letters, digits and the separators tax ids are written with (spaces, dots, dashes, slashes). */
const TAX_ID = /^[A-Za-z0-9][A-Za-z0-9 .\-/]*$/

const length = (text: string): number => [...text].length
const oneLine = (text: string): string => text.replace(/\s+/g, ' ').trim()
/** An address keeps its lines; each line is tidied, blank lines dropped. */
const lines = (text: string): string => text.replace(/\r\n?/g, '\n').split('\n').map(oneLine).filter((line) => line !== '').join('\n')

/** Checks and tidies the posted tax fields: the settings, or the values back with what to fix. */
export function checkTax (fields: TaxFields): { settings?: TaxSettings, values: TaxFields, problems: TaxProblems } {
  const values: TaxFields = {
    ...(fields.automatic_tax === undefined ? {} : { automatic_tax: fields.automatic_tax }),
    tax_behavior: (fields.tax_behavior ?? '').trim() || DEFAULT_TAX.taxBehavior,
    tax_code: (fields.tax_code ?? '').trim() || DEFAULT_TAX.taxCode,
    ...(fields.invoices === undefined ? {} : { invoices: fields.invoices }),
    seller_name: oneLine(fields.seller_name ?? ''),
    seller_address: lines(fields.seller_address ?? ''),
    seller_tax_id: oneLine(fields.seller_tax_id ?? '')
  }
  const problems: TaxProblems = {}
  if (values.automatic_tax !== undefined && values.automatic_tax !== '1') problems.automatic_tax = 'Automatic tax is either on (1) or off (left out).'
  if (values.tax_behavior !== 'exclusive' && values.tax_behavior !== 'inclusive') problems.tax_behavior = 'Prices either include tax (inclusive) or have it added at checkout (exclusive).'
  if (!TAX_CODE.test(values.tax_code!)) problems.tax_code = `A Stripe tax code is "txcd_" and eight digits, like ${EBOOK_TAX_CODE} (e-books).`
  if (values.invoices !== undefined && values.invoices !== '1') problems.invoices = 'Invoices are either on (1) or off (left out).'
  if (length(values.seller_name!) > TAX_LIMITS.sellerName) problems.seller_name = `The seller's name must be at most ${TAX_LIMITS.sellerName} characters long.`
  if (length(values.seller_address!) > TAX_LIMITS.sellerAddress) problems.seller_address = `The seller's address must be at most ${TAX_LIMITS.sellerAddress} characters long.`
  const taxId = values.seller_tax_id!
  if (taxId !== '' && (length(taxId) > TAX_LIMITS.sellerTaxId || !TAX_ID.test(taxId))) {
    problems.seller_tax_id = `A tax id is letters and digits (spaces, dots and dashes allowed), like DE123456789, at most ${TAX_LIMITS.sellerTaxId} characters.`
  }
  if (Object.keys(problems).length > 0) return { values, problems }
  return {
    values,
    problems,
    settings: {
      automaticTax: values.automatic_tax === '1',
      taxBehavior: values.tax_behavior as TaxBehavior,
      taxCode: values.tax_code!,
      invoices: values.invoices === '1',
      sellerName: values.seller_name!,
      sellerAddress: values.seller_address!,
      sellerTaxId: values.seller_tax_id!
    }
  }
}

/**
 * The settings as form values; with `off` set, switches that are off are written as it (the
 * stored rows keep '0'), else left out (an unchecked checkbox).
 */
export function taxFields (tax: TaxSettings, off?: string): Record<string, string> {
  const flag = (on: boolean): string | undefined => on ? '1' : off
  const fields: Record<string, string | undefined> = {
    automatic_tax: flag(tax.automaticTax),
    tax_behavior: tax.taxBehavior,
    tax_code: tax.taxCode,
    invoices: flag(tax.invoices),
    seller_name: tax.sellerName,
    seller_address: tax.sellerAddress,
    seller_tax_id: tax.sellerTaxId
  }
  return Object.fromEntries(Object.entries(fields).filter((entry): entry is [string, string] => entry[1] !== undefined))
}

/** The tax settings from the stored rows (key: the field's name); defaults where a row is missing. */
export function taxFromRows (rows: Map<string, string>): TaxSettings {
  const behavior = rows.get('tax_behavior')
  return {
    automaticTax: rows.get('automatic_tax') === '1',
    taxBehavior: behavior === 'exclusive' || behavior === 'inclusive' ? behavior : DEFAULT_TAX.taxBehavior,
    taxCode: rows.get('tax_code') ?? DEFAULT_TAX.taxCode,
    invoices: rows.get('invoices') === '1',
    sellerName: rows.get('seller_name') ?? '',
    sellerAddress: rows.get('seller_address') ?? '',
    sellerTaxId: rows.get('seller_tax_id') ?? ''
  }
}
