import { readdir } from 'node:fs/promises'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.js'
import {
  decimals, formatAmount, formatPrice, isSupportedCurrency, maxPrice, minimumCharge, minorUnits, parseAmount,
  convertPrice, parsePrice, parseRate, priceInput, priceRule, STRIPE_CURRENCIES, toDecimal
} from '../../src/lib/money.js'
import { ADMIN_EMAIL, build, type Harness } from '../helpers/build.js'
import { session, startCheckout } from '../helpers/purchase.js'

t.test('minor units follow Stripe: two decimals, zero-decimal, three-decimal, and the ISK/UGX special case', async (t) => {
  for (const [currency, units] of [['usd', 2], ['eur', 2], ['jpy', 0], ['krw', 0], ['xof', 0], ['kwd', 3], ['bhd', 3], ['USD', 2], ['JPY', 0]] as const) {
    t.equal(minorUnits(currency), units, `${currency}: ${units}`)
    t.equal(decimals(currency), units, `${currency} is written with ${units} decimals`)
  }
  // Stripe wants ISK and UGX as two-decimal amounts that are whole units (5 ISK = 500).
  t.equal(minorUnits('isk'), 2)
  t.equal(decimals('isk'), 0)
  t.equal(minorUnits('ugx'), 2)
  t.equal(decimals('ugx'), 0)
  t.equal(minorUnits('huf'), 2, 'HUF is charged with two decimals (whole only for payouts)')
})

t.test('parsePrice reads a price in the currency\'s minor units, without floating point', async (t) => {
  const good: Array<[string, string, number]> = [
    ['5', 'usd', 500], ['5.5', 'usd', 550], ['5.50', 'usd', 550], [' 0.99 ', 'usd', 99], ['0', 'usd', 0], ['10000', 'usd', 1_000_000],
    ['0.29', 'usd', 29], ['1.15', 'usd', 115], ['19.99', 'eur', 1999], ['500', 'jpy', 500], ['10000000', 'jpy', 10_000_000],
    ['1.250', 'kwd', 1250], ['1.25', 'kwd', 1250], ['1', 'kwd', 1000], ['500', 'isk', 50_000]
  ]
  for (const [input, currency, amount] of good) t.equal(parsePrice(input, currency), amount, `"${input}" ${currency} is ${amount}`)
  const bad: Array<[string, string]> = [
    ['', 'usd'], ['-1', 'usd'], ['+1', 'usd'], ['five', 'usd'], ['1e3', 'usd'], ['5.', 'usd'], ['.5', 'usd'], ['1,000', 'usd'],
    ['1.999', 'usd'], ['10000.01', 'usd'], ['1.5.0', 'eur'], ['NaN', 'eur'], ['Infinity', 'eur'],
    ['500.5', 'jpy'], ['500.0', 'jpy'], ['10000001', 'jpy'],
    ['1.255', 'kwd'], ['1.2500', 'kwd'], ['10000.010', 'kwd'], ['500.5', 'isk']
  ]
  for (const [input, currency] of bad) t.equal(parsePrice(input, currency), undefined, `"${input}" ${currency} is refused`)
  t.equal(parseAmount('1.255', 'kwd'), 1255, 'parseAmount keeps every digit the currency has, with no cap or step')
  t.equal(parseAmount('0.5', 'jpy'), undefined)
})

t.test('toDecimal writes minor units as a plain decimal string', async (t) => {
  t.equal(toDecimal(750, 'usd'), '7.50')
  t.equal(toDecimal(5, 'usd'), '0.05')
  t.equal(toDecimal(0, 'usd'), '0.00')
  t.equal(toDecimal(-550, 'eur'), '-5.50')
  t.equal(toDecimal(500, 'jpy'), '500')
  t.equal(toDecimal(1250, 'kwd'), '1.250')
  t.equal(toDecimal(5, 'kwd'), '0.005')
  t.equal(toDecimal(50_000, 'isk'), '500')
  t.equal(toDecimal(123_456_789_012, 'usd'), '1234567890.12', 'no float rounding on large amounts')
  t.throws(() => toDecimal(7.5, 'usd'), RangeError, 'a fraction of a minor unit is a bug, not a price')
  t.throws(() => toDecimal(Number.NaN, 'usd'), RangeError)
})

t.test('formatPrice shows Free, or the amount with the currency\'s own decimals', async (t) => {
  t.equal(formatPrice(0, 'usd'), 'Free')
  t.equal(formatPrice(0, 'jpy'), 'Free')
  t.equal(formatPrice(500, 'usd'), '$5.00')
  t.equal(formatPrice(1_000_000, 'usd'), '$10,000.00')
  t.equal(formatPrice(500, 'jpy'), '¥500')
  // Intl puts a no-break space between a currency code and the number.
  t.equal(formatPrice(1250, 'kwd'), 'KWD\u00a01.250')
  t.equal(formatPrice(1999, 'eur'), '€19.99')
  t.equal(formatPrice(1999, 'EUR'), '€19.99')
  t.equal(formatPrice(50_000, 'isk'), 'ISK\u00a0500')
  t.equal(formatAmount(0, 'usd'), '$0.00', 'formatAmount is for any amount, a zero refund included')
})

t.test('caps and minimum charges per currency', async (t) => {
  t.equal(maxPrice('usd'), 1_000_000)
  t.equal(maxPrice('eur'), 1_000_000)
  t.equal(maxPrice('jpy'), 10_000_000)
  t.equal(maxPrice('kwd'), 10_000_000)
  t.equal(maxPrice('huf'), 99_999_999, 'a weak unit gets a higher cap, never past Stripe\'s eight digits')
  t.equal(maxPrice('isk'), 99_999_900, 'whole ISK under Stripe\'s eight digits')
  t.equal(minimumCharge('usd'), 50)
  t.equal(minimumCharge('eur'), 50)
  t.equal(minimumCharge('gbp'), 30)
  t.equal(minimumCharge('jpy'), 50)
  t.equal(minimumCharge('huf'), 17_500)
  t.equal(minimumCharge('thb'), 1000)
  t.equal(minimumCharge('kwd'), 500, 'fallback: half a unit')
  t.equal(minimumCharge('krw'), 50, 'fallback: 50 of a whole-number currency')
  t.equal(minimumCharge('isk'), 5000, 'fallback: 50 ISK, in Stripe\'s two-decimal form')
})

t.test('the supported currencies are Stripe\'s, in lower case', async (t) => {
  t.ok(STRIPE_CURRENCIES.length >= 135, `${STRIPE_CURRENCIES.length} currencies`)
  t.same(STRIPE_CURRENCIES.filter((c) => c !== c.toLowerCase() || c.length !== 3), [])
  t.equal(new Set(STRIPE_CURRENCIES).size, STRIPE_CURRENCIES.length, 'no duplicates')
  for (const code of ['usd', 'eur', 'gbp', 'jpy', 'kwd', 'isk', 'ugx', 'huf', 'twd', 'inr', 'brl', 'xof', 'USD']) t.ok(isSupportedCurrency(code), `${code} is supported`)
  for (const code of ['xyz', 'hrk', 'ltl', 'btc', '', 'us', 'usdd']) t.notOk(isSupportedCurrency(code), `"${code}" is not`)
})

t.test('a price typed with a comma or a currency sign is refused with a message that says to type a dot and no sign', async (t) => {
  for (const typed of ['4,99', '$5', '5 $', '€4.99', '1,000', 'USD 5']) t.equal(parsePrice(typed, 'usd'), undefined, `${typed} is not read`)
  t.match(priceRule('usd'), 'Type it with a dot, not a comma, and no currency sign, like 4.99.')
  t.match(priceRule('eur'), 'like 4.99.')
  t.match(priceRule('kwd'), 'like 4.990.')
  t.match(priceRule('jpy'), 'Type it in digits only, with no currency sign or commas, like 500.')
  t.match(priceRule('isk'), 'like 500.')
})

t.test('convertPrice moves minor units between currencies at a rate, rounded half up to a chargeable amount', async (t) => {
  const at = (rate: string) => parseRate(rate)!
  t.equal(convertPrice(500, 'usd', 'jpy', at('150')), 750, '$5.00 at 150 is ¥750')
  t.equal(convertPrice(750, 'jpy', 'usd', at('0.0067')), 503, '¥750 at 0.0067 is $5.025, rounded half up to $5.03')
  t.equal(convertPrice(499, 'usd', 'eur', at('0.92')), 459, '$4.99 at 0.92 is €4.5908 -> €4.59')
  t.equal(convertPrice(1000, 'usd', 'kwd', at('0.3071')), 3070, 'KWD in steps of 0.010: 3.071 -> 3.070')
  t.equal(convertPrice(1000, 'usd', 'isk', at('138.55')), 138600, 'ISK in whole krónur (x100): 1385.5 -> 1386')
  t.equal(convertPrice(0, 'usd', 'eur', at('0.92')), 0, 'free stays free')
  t.equal(convertPrice(60, 'usd', 'jpy', at('0.5')), 50, 'never under the minimum charge (¥50)')
  t.equal(convertPrice(100, 'usd', 'usd', at('1')), 100, 'rate 1 in the same currency changes nothing')
  for (const bad of ['0', '0.000', '-1', '1,5', '1e3', 'abc', '', ' ', '1.', '.5', '1.0000000000001']) t.equal(parseRate(bad), undefined, `"${bad}" is not a rate`)
  t.same(parseRate('0.92'), { numerator: 92n, denominator: 100n })
})

t.test('messages and the form speak the currency\'s decimals', async (t) => {
  t.match(priceRule('usd'), /at most two decimals/)
  t.match(priceRule('jpy'), /whole number from 0 to 10,000,000 JPY/)
  t.notMatch(priceRule('jpy'), /decimals/)
  t.match(priceRule('kwd'), /three decimals/)
  t.same(priceInput('jpy'), { code: 'JPY', pattern: '\\d+', placeholder: '500', inputMode: 'numeric', hint: '0 means free; otherwise from ¥50 to ¥10,000,000.' })
  t.equal(priceInput('usd').placeholder, '5.00')
  t.equal(priceInput('kwd').placeholder, '5.000')
  // The form's pattern must accept exactly what parsePrice accepts (the browser anchors it).
  for (const currency of ['usd', 'jpy', 'kwd', 'isk']) {
    const pattern = new RegExp(`^(?:${priceInput(currency).pattern})$`)
    for (const input of ['5', '500', '5.5', '5.50', '1.250', '1.255', '5.', '1.2500']) {
      t.equal(pattern.test(input), parsePrice(input, currency) !== undefined, `${currency} "${input}"`)
    }
  }
})

t.test('STORE_CURRENCY that Stripe cannot charge in is a ConfigError naming it', async (t) => {
  const env = { DATABASE_URL: ':memory:', SESSION_SECRET: 'x'.repeat(32) }
  for (const bad of ['xyz', 'usdd', 'hrk']) {
    const error = t.throws(() => loadConfig({ ...env, STORE_CURRENCY: bad }))
    t.ok(error instanceof ConfigError && error.variable === 'STORE_CURRENCY', `${bad}: names STORE_CURRENCY`)
  }
  t.equal(loadConfig({ ...env, STORE_CURRENCY: 'JPY' }).currency, 'jpy')
  t.equal(loadConfig({ ...env, STORE_CURRENCY: 'kwd' }).currency, 'kwd')
})

async function uploaded (h: Harness): Promise<{ rows: number, files: string[] }> {
  const rows = (await h.app.db.selectFrom('content').select('id').execute()).length
  return { rows, files: (await readdir(h.config.contentDir).catch(() => [])).filter((name) => name !== '.store-id') }
}

t.test('a JPY store: "500" is ¥500 in the row, on the page, in Stripe\'s unit_amount and on its checkout page', async (t) => {
  const h = await build(t, { STORE_CURRENCY: 'jpy' })
  const admin = await h.signIn({ email: ADMIN_EMAIL, sub: 'admin' })
  const form = await h.request(admin, { url: '/admin/content/new' })
  t.match(form.body, /Price \(JPY\)/)
  t.match(form.body, /pattern="\\d\+"/, 'whole numbers only')
  t.match(form.body, /placeholder="500"/)
  t.notMatch(form.body, /USD/)

  const response = await h.upload(admin, { title: 'Yen Guide', price: '500' })
  t.equal(response.statusCode, 303)
  const row = await h.app.db.selectFrom('content').selectAll().executeTakeFirstOrThrow()
  t.equal(row.price_cents, 500)
  t.equal(row.currency, 'jpy')
  const page = await h.request(null, { url: '/content/yen-guide' })
  t.match(page.body, /¥500/)
  t.notMatch(page.body, /¥5[^0]/)

  const reader = await h.signIn({ email: 'reader@example.com', sub: 'reader' })
  const started = await startCheckout(h, reader, 'yen-guide')
  t.equal(started.order.amount_cents, 500)
  const sent = session(h, started.sessionId)
  t.equal(sent.amount_total, 500, 'unit_amount 500, not 50000')
  t.equal(sent.currency, 'jpy')
  const pay = await fetch(`${h.stripe.url}/pay/${started.sessionId}`)
  t.match(await pay.text(), /¥500/, 'the emulator\'s checkout page shows ¥500')
})

t.test('a JPY store refuses decimals and a price under ¥50, saying so in yen', async (t) => {
  const h = await build(t, { STORE_CURRENCY: 'jpy' })
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  const decimal = await h.upload(admin, { price: '500.5' })
  t.equal(decimal.statusCode, 400)
  t.match(decimal.body, /whole number/)
  t.notMatch(decimal.body, /two decimals/)
  t.match(decimal.body, /Price \(JPY\)/, 'the form shown again keeps the currency')
  const low = await h.upload(admin, { price: '10' })
  t.equal(low.statusCode, 400)
  t.match(low.body, /The lowest price Stripe accepts in JPY is ¥50\. Use 0 for a free item\./)
  t.same(await uploaded(h), { rows: 0, files: [] }, 'no row and no file left')
  t.equal((await h.upload(admin, { title: 'Free Yen', price: '0' })).statusCode, 303, '0 is still free')
})

t.test('a USD store refuses $0.20, under Stripe\'s $0.50 minimum, and keeps nothing', async (t) => {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  const form = await h.request(admin, { url: '/admin/content/new' })
  t.match(form.body, /Price \(USD\)/)
  const low = await h.upload(admin, { price: '0.20' })
  t.equal(low.statusCode, 400)
  t.match(low.body, /The lowest price Stripe accepts in USD is \$0\.50\. Use 0 for a free item\./)
  t.same(await uploaded(h), { rows: 0, files: [] })
  t.equal((await h.upload(admin, { price: '0.50' })).statusCode, 303, 'the minimum itself is accepted')
})

t.test('a KWD store: "1.250" is 1250 fils, shown as KWD 1.250 and charged as 1250', async (t) => {
  const h = await build(t, { STORE_CURRENCY: 'kwd' })
  const admin = await h.signIn({ email: ADMIN_EMAIL, sub: 'admin' })
  const form = await h.request(admin, { url: '/admin/content/new' })
  t.match(form.body, /Price \(KWD\)/)
  t.match(form.body, /placeholder="5\.000"/)
  t.equal((await h.upload(admin, { title: 'Dinar Guide', price: '1.250' })).statusCode, 303)
  const row = await h.app.db.selectFrom('content').selectAll().executeTakeFirstOrThrow()
  t.equal(row.price_cents, 1250)
  t.equal(row.currency, 'kwd')
  const page = await h.request(null, { url: '/content/dinar-guide' })
  t.match(page.body, /KWD\s1\.250/)
  const reader = await h.signIn({ email: 'reader@example.com', sub: 'reader' })
  const started = await startCheckout(h, reader, 'dinar-guide')
  t.equal(session(h, started.sessionId).amount_total, 1250)
  const odd = await h.upload(admin, { title: 'Odd Fils', price: '1.255' })
  t.equal(odd.statusCode, 400, 'Stripe charges three-decimal currencies in steps of 10')
  t.match(odd.body, /three decimals/)
})
