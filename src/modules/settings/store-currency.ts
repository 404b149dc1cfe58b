import type { Kysely } from 'kysely'
import { ConfigError } from '../../config.js'
import type { Runner } from '../../db/runner.js'
import type { Database } from '../../db/types.js'
import { convertPrice, formatAmount, maxPrice, type Rate } from '../../lib/money.js'

/**
 * One currency per store. An item keeps the currency it was priced in; changing STORE_CURRENCY
 * alone would leave old items selling in the old one beside new items in the new one (and
 * dashboards adding yen to dollars). So a store whose items are priced in another currency than
 * STORE_CURRENCY does not start, and `npm run reprice` (scripts/reprice.ts) moves them over.
 * Past orders keep the currency they were paid in.
 */

/** The other currencies items are priced in, most items first, with their counts. */
export async function otherCurrencies (deps: { db: Kysely<Database>, runner: Runner }, currency: string): Promise<Array<{ currency: string, items: number }>> {
  const { db, runner } = deps
  const rows = await runner.all(db.selectFrom('content')
    .select(['currency', (eb) => eb.fn.countAll<number | string | bigint>().as('items')])
    .groupBy('currency'))
  return rows
    .map((row) => ({ currency: row.currency.toLowerCase(), items: Number(row.items) }))
    .filter((row) => row.currency !== currency.toLowerCase())
    .sort((a, b) => b.items - a.items || a.currency.localeCompare(b.currency))
}

/**
 * At start-up, after the migrations: a ConfigError naming STORE_CURRENCY and the currency in use
 * when any item is priced in another, so the store never sells in two currencies by accident.
 */
export async function checkStoreCurrency (deps: { db: Kysely<Database>, runner: Runner }, currency: string): Promise<void> {
  const others = await otherCurrencies(deps, currency)
  if (others.length === 0) return
  const code = currency.toUpperCase()
  const used = others.map((row) => `${row.items} ${row.items === 1 ? 'item is' : 'items are'} priced in ${row.currency.toUpperCase()}`).join(', ')
  const first = others[0]!.currency
  throw new ConfigError('STORE_CURRENCY', `is ${code}, but ${used}. Set STORE_CURRENCY=${first} to keep selling in ${first.toUpperCase()}, ` +
    `or move the store to ${code} with npm run reprice -- --rate <${code} for 1 ${first.toUpperCase()}> --yes (README: "Moving a store to another currency"). Nothing was changed.`)
}

/** One item of a reprice: its prices now and after. */
export interface RepricedItem {
  id: number
  slug: string
  title: string
  currency: string
  price: number
  minimum: number
  payWhatYouWant: boolean
  paymentLink: boolean
  newPrice: number
  newMinimum: number
  /** Why the item cannot be repriced at this rate (a price above what the store takes). */
  problem?: string
}

/** What `reprice` would do: every item priced in `from`, converted into `to` at `rate`. */
export async function planReprice (deps: { db: Kysely<Database>, runner: Runner }, change: { from: string, to: string, rate: Rate }): Promise<RepricedItem[]> {
  const { db, runner } = deps
  const { from, to, rate } = change
  const rows = await runner.all(db.selectFrom('content')
    .select(['id', 'slug', 'title', 'currency', 'price_cents', 'min_price_cents', 'pay_what_you_want', 'payment_link_id'])
    .where('currency', '=', from)
    .orderBy('id'))
  return rows.map((row) => {
    const newPrice = convertPrice(row.price_cents, from, to, rate)
    const newMinimum = convertPrice(row.min_price_cents, from, to, rate)
    const item: RepricedItem = {
      id: row.id,
      slug: row.slug,
      title: row.title,
      currency: row.currency,
      price: row.price_cents,
      minimum: row.min_price_cents,
      payWhatYouWant: row.pay_what_you_want === 1,
      paymentLink: row.payment_link_id !== null,
      newPrice,
      newMinimum
    }
    if (newPrice > maxPrice(to)) item.problem = `would cost more than ${formatAmount(maxPrice(to), to)}, the most a price can be`
    return item
  })
}

/**
 * Reprices the planned items in one transaction: all of them or none. An item whose currency
 * changed since the plan was made (another reprice) is left alone and not counted.
 */
export async function applyReprice (deps: { db: Kysely<Database>, runner: Runner }, plan: RepricedItem[], to: string): Promise<number> {
  const { db, runner } = deps
  if (plan.some((item) => item.problem !== undefined)) throw new RangeError('a planned price is out of range')
  return await runner.transaction(async () => {
    let changed = 0
    for (const item of plan) {
      const { changes } = await runner.run(db.updateTable('content')
        .set({ currency: to, price_cents: item.newPrice, min_price_cents: item.newMinimum })
        .where('id', '=', item.id)
        .where('currency', '=', item.currency))
      changed += changes
    }
    return changed
  })
}
