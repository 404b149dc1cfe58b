// npm run reprice -- --rate <number> [--from <code>] [--yes]: moves a store's items into
// STORE_CURRENCY. Without --yes it only lists every item with its price now and after; with
// --yes it reprices them all in one transaction. Past orders keep their currency. Run it with
// the store stopped (README: "Moving a store to another currency").
import { parseArgs } from 'node:util'
import { migrateToLatest } from '../src/db/database.js'
import { openConfiguredDatabase } from '../src/db/open.js'
import { configFromEnvironment } from '../src/env.js'
import { formatAmount, parseRate, type Rate } from '../src/lib/money.js'
import { applyReprice, otherCurrencies, planReprice, type RepricedItem } from '../src/modules/settings/store-currency.js'

/** A refusal: one line saying what to type instead; nothing was changed. */
class Refusal extends Error {}
function refuse (problem: string): never {
  throw new Refusal(problem)
}

let args: { rate?: string, from?: string, yes?: boolean }
try {
  args = parseArgs({ options: { rate: { type: 'string' }, from: { type: 'string' }, yes: { type: 'boolean' } }, allowPositionals: false }).values
} catch (error) {
  console.error(`reprice: ${(error as Error).message.replace(/\.?\s*\n\s*/g, '. ').replace(/\.+$/, '')}. Usage: npm run reprice -- --rate <number> [--from <currency>] [--yes]`)
  process.exit(1)
}

const config = configFromEnvironment()
const to = config.currency
const code = to.toUpperCase()
let rate: Rate | undefined
if (args.rate !== undefined) {
  rate = parseRate(args.rate)
  if (rate === undefined) {
    console.error(`reprice: --rate must be a number above 0 with a dot for decimals, like 0.92 (how many ${code} one unit of the old currency is worth), got "${args.rate}". Nothing was changed.`)
    process.exit(1)
  }
}

/** "$5.00", or "$5.00 (pay what you want, at least $2.00)". */
const price = (amount: number, minimum: number, item: RepricedItem, currency: string): string =>
  formatAmount(amount, currency) + (item.payWhatYouWant ? ` (pay what you want, at least ${formatAmount(minimum, currency)})` : '')

const { handle, name } = await openConfiguredDatabase(config)
let status = 0
try {
  await migrateToLatest(handle.db)
  const others = await otherCurrencies(handle, to)
  if (others.length === 0) {
    console.log(`Every item in ${name} is priced in ${code} (STORE_CURRENCY) already. Nothing to do.`)
  } else {
    const listed = others.map((row) => `${row.currency.toUpperCase()} (${row.items})`).join(', ')
    const from = args.from?.toLowerCase() ?? (others.length === 1 ? others[0]!.currency : undefined)
    if (from === undefined) refuse(`items are priced in ${listed}: reprice one currency at a time with --from <currency> and its own --rate. Nothing was changed.`)
    if (!others.some((row) => row.currency === from)) refuse(`--from ${from}: no item is priced in ${from.toUpperCase()}; items not in ${code} are priced in ${listed}. Nothing was changed.`)
    const old = from.toUpperCase()
    if (rate === undefined) {
      const items = await planReprice(handle, { from, to, rate: { numerator: 1n, denominator: 1n } })
      console.log(`STORE_CURRENCY is ${code}; ${items.length} item${items.length === 1 ? ' is' : 's are'} priced in ${old}:`)
      for (const item of items) console.log(`  /content/${item.slug}  "${item.title}"  ${price(item.price, item.minimum, item, from)} -> ${code} at your rate`)
      if (args.yes === true) refuse(`--yes needs --rate: how many ${code} one ${old} is worth, like --rate 0.92. Nothing was changed.`)
      console.log(`Nothing was changed. Give the rate, how many ${code} one ${old} is worth: npm run reprice -- --rate <number>; add --yes to reprice.`)
    } else {
      const items = await planReprice(handle, { from, to, rate })
      console.log(`STORE_CURRENCY is ${code}; at ${args.rate!} ${code} for 1 ${old}, ${items.length} item${items.length === 1 ? '' : 's'} priced in ${old} become:`)
      for (const item of items) {
        const after = item.problem === undefined ? price(item.newPrice, item.newMinimum, item, to) : `refused: ${item.problem}`
        console.log(`  /content/${item.slug}  "${item.title}"  ${price(item.price, item.minimum, item, from)} -> ${after}`)
      }
      const linked = items.filter((item) => item.paymentLink).length
      const refused = items.filter((item) => item.problem !== undefined).length
      if (refused > 0) {
        refuse(`${refused} item${refused === 1 ? '' : 's'} cannot be priced in ${code} at this rate. Check --rate. Nothing was changed.`)
      } else if (args.yes !== true) {
        console.log('Nothing was changed. Run again with --yes to reprice these items (past orders keep their currency).')
      } else {
        const changed = await applyReprice(handle, items, to)
        console.log(`Repriced ${changed} item${changed === 1 ? '' : 's'} from ${old} to ${code} in ${name}. Past orders keep their currency. The store can start again.`)
      }
      if (linked > 0) {
        console.log(`Note: ${linked} item${linked === 1 ? ' has' : 's have'} a Stripe Payment Link, which keeps its own price and currency: create ${linked === 1 ? 'a new link' : 'new links'} in ${code} and set ${linked === 1 ? 'it' : 'them'} on the edit form.`)
      }
    }
  }
} catch (error) {
  if (!(error instanceof Refusal)) throw error
  console.error(`reprice: ${error.message}`)
  status = 1
} finally {
  await handle.close()
}
process.exit(status)
