// backends: sqlite, postgres-s3
import { execFile, spawn } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { ConfigError, loadConfig } from '../../src/config.js'
import { ADMIN_EMAIL, build, type Harness, testEnv } from '../helpers/build.js'
import { edit } from '../helpers/items.js'
import { startCheckout } from '../helpers/purchase.js'

const run = promisify(execFile)
const ROOT = join(import.meta.dirname, '..', '..')

interface Ran { code: number, stdout: string, stderr: string }

/** The variables of a second process on the harness's store, as an operator's shell has them. */
function shellEnv (h: Harness, env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...testEnv(h.dir, h.stripe.url, h.idp.url, env) }
}

async function reprice (h: Harness, env: Record<string, string>, ...args: string[]): Promise<Ran> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'scripts/reprice.ts', ...args], { cwd: ROOT, env: shellEnv(h, env), timeout: 60_000 })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code?: number, stdout?: string, stderr?: string }
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' }
  }
}

/** A USD store with a paid item, a pay-what-you-want one, a free one, and a paid order. */
async function usdStore (t: Test): Promise<Harness> {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  for (const [title, price] of [['Paid Guide', '5.00'], ['Tip Jar Zine', '4.00'], ['Free Sampler', '0'], ['Cheap Sheet', '0.50']] as const) {
    const response = await h.upload(admin, { title, price })
    if (response.statusCode !== 303) throw new Error(`upload answered ${response.statusCode}`)
  }
  const saved = await edit(h, admin, 'tip-jar-zine', { title: 'Tip Jar Zine', price: '4.00', extra: { pay_what_you_want: '1', min_price: '2.00' } })
  if (saved.statusCode !== 303) throw new Error(`the edit answered ${saved.statusCode}`)
  const reader = await h.signIn({ email: 'reader@example.com' })
  const { sessionId } = await startCheckout(h, reader, 'paid-guide')
  await h.stripe.pay(sessionId)
  return h
}

async function prices (h: Harness): Promise<Array<{ slug: string, currency: string, price_cents: number, min_price_cents: number }>> {
  return await h.app.db.selectFrom('content').select(['slug', 'currency', 'price_cents', 'min_price_cents']).orderBy('id').execute()
}

/** Builds another app on the harness's store; its ConfigError, or null when it started. */
async function startOn (t: Test, h: Harness, env: Record<string, string>): Promise<ConfigError | null> {
  try {
    const app = await buildApp(loadConfig(testEnv(h.dir, h.stripe.url, h.idp.url, env)))
    t.teardown(async () => { await app.close() })
    await app.ready()
    return null
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
}

t.test('a store whose items are priced in USD refuses to start with STORE_CURRENCY=eur, naming both', async (t) => {
  const h = await usdStore(t)
  const before = await prices(h)
  const error = await startOn(t, h, { STORE_CURRENCY: 'eur' })
  t.ok(error, 'the app did not start')
  t.equal(error!.variable, 'STORE_CURRENCY')
  t.match(error!.message, /^STORE_CURRENCY: is EUR, but 4 items are priced in USD\. Set STORE_CURRENCY=usd .*npm run reprice -- --rate <EUR for 1 USD> --yes/)
  t.notMatch(error!.message, /\n/, 'one line')
  t.same(await prices(h), before, 'nothing was changed')
  t.equal(await startOn(t, h, { STORE_CURRENCY: 'USD' }), null, 'the currency in use (any case) starts')
})

t.test('the server process says so in one line naming STORE_CURRENCY and the currency in use, and exits 1', async (t) => {
  const h = await usdStore(t)
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT, env: shellEnv(h, { STORE_CURRENCY: 'jpy', PORT: '0', LOG_LEVEL: 'info' }), stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
  // Without the refusal the server would listen and never exit.
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  clearTimeout(timer)
  t.equal(code, 1)
  const lines = output.split('\n').filter((line) => line.trim() !== '')
  t.equal(lines.length, 1, `one line: ${output}`)
  t.match(lines[0], /^Configuration error: STORE_CURRENCY: is JPY, but 4 items are priced in USD\./)
})

t.test('npm run reprice without --yes lists every item with its price now and after, and changes nothing', async (t) => {
  const h = await usdStore(t)
  const before = await prices(h)
  const listed = await reprice(h, { STORE_CURRENCY: 'eur' }, '--rate', '0.92')
  t.equal(listed.code, 0, listed.stderr)
  for (const line of ['/content/paid-guide  "Paid Guide"  $5.00 -> €4.60', '/content/tip-jar-zine  "Tip Jar Zine"  $4.00 (pay what you want, at least $2.00) -> €3.68 (pay what you want, at least €1.84)',
    '/content/free-sampler  "Free Sampler"  $0.00 -> €0.00', '/content/cheap-sheet  "Cheap Sheet"  $0.50 -> €0.50']) {
    t.match(listed.stdout, line, line)
  }
  t.match(listed.stdout, /Nothing was changed\. Run again with --yes/)
  const bare = await reprice(h, { STORE_CURRENCY: 'eur' })
  t.equal(bare.code, 0, 'without a rate it lists the items too')
  t.match(bare.stdout, /4 items are priced in USD/)
  t.match(bare.stdout, /\$5\.00 -> EUR at your rate/)
  t.same(await prices(h), before, 'nothing was changed')
  t.ok(await startOn(t, h, { STORE_CURRENCY: 'eur' }), 'and the store still refuses to start in EUR')
})

t.test('npm run reprice --yes reprices every item into STORE_CURRENCY; past orders keep theirs; the store then starts', async (t) => {
  const h = await usdStore(t)
  const done = await reprice(h, { STORE_CURRENCY: 'jpy' }, '--rate', '151.37', '--yes')
  t.equal(done.code, 0, done.stderr)
  t.match(done.stdout, /Repriced 4 items from USD to JPY/)
  t.same(await prices(h), [
    { slug: 'paid-guide', currency: 'jpy', price_cents: 757, min_price_cents: 0 },
    { slug: 'tip-jar-zine', currency: 'jpy', price_cents: 605, min_price_cents: 303 },
    { slug: 'free-sampler', currency: 'jpy', price_cents: 0, min_price_cents: 0 },
    { slug: 'cheap-sheet', currency: 'jpy', price_cents: 76, min_price_cents: 0 }
  ], 'yen, rounded half up; free stays free')
  const orders = await h.app.db.selectFrom('orders').select(['currency', 'amount_cents']).execute()
  t.same(orders, [{ currency: 'usd', amount_cents: 500 }], 'the past order keeps its currency and amount')

  const again = await reprice(h, { STORE_CURRENCY: 'jpy' }, '--rate', '151.37', '--yes')
  t.equal(again.code, 0)
  t.match(again.stdout, /priced in JPY \(STORE_CURRENCY\) already\. Nothing to do\./, 'a second run changes nothing')
  t.equal(await startOn(t, h, { STORE_CURRENCY: 'jpy' }), null, 'the store starts in JPY')
  t.ok(await startOn(t, h, { STORE_CURRENCY: 'usd' }), 'and no longer in USD')
})

t.test('a repriced price never falls below the minimum charge, and one past the highest price is refused whole', async (t) => {
  const h = await usdStore(t)
  const low = await reprice(h, { STORE_CURRENCY: 'gbp' }, '--rate', '0.01', '--yes')
  t.equal(low.code, 0, low.stderr)
  t.same((await prices(h)).map((row) => [row.slug, row.price_cents, row.min_price_cents]), [
    ['paid-guide', 30, 0], ['tip-jar-zine', 30, 30], ['free-sampler', 0, 0], ['cheap-sheet', 30, 0]
  ], 'raised to £0.30, Stripe\'s minimum in GBP')
  const before = await prices(h)
  const high = await reprice(h, { STORE_CURRENCY: 'usd' }, '--rate', '100000', '--yes')
  t.equal(high.code, 1)
  t.match(high.stdout, /refused: would cost more than \$10,000\.00/)
  t.match(high.stderr, /^reprice: 3 items cannot be priced in USD at this rate\. Check --rate\. Nothing was changed\.\n$/)
  t.same(await prices(h), before, 'not one item was repriced')
})

t.test('a bad --rate, --yes without a rate and an unknown option are refused in one line and change nothing', async (t) => {
  const h = await usdStore(t)
  const before = await prices(h)
  for (const rate of ['0', '-1', '1,5', 'abc', '', '1e3', '0.0000000000001']) {
    const refused = await reprice(h, { STORE_CURRENCY: 'eur' }, `--rate=${rate}`, '--yes')
    t.equal(refused.code, 1, `--rate "${rate}": exit 1`)
    t.match(refused.stderr, /^reprice: --rate must be a number above 0 with a dot for decimals, like 0\.92 \(how many EUR/, `--rate "${rate}": says what to type`)
    t.equal(refused.stderr.trim().split('\n').length, 1, `--rate "${rate}": one line`)
  }
  const noRate = await reprice(h, { STORE_CURRENCY: 'eur' }, '--yes')
  t.equal(noRate.code, 1)
  t.match(noRate.stderr, /^reprice: --yes needs --rate/)
  for (const args of [['--rat', '1'], ['--rate', '-1'], ['--rate']]) {
    const unknown = await reprice(h, { STORE_CURRENCY: 'eur' }, ...args)
    t.equal(unknown.code, 1, `${args.join(' ')}: exit 1`)
    t.match(unknown.stderr, /^reprice: [^\n]*Usage: npm run reprice -- --rate <number>[^\n]*\n$/, `${args.join(' ')}: one line with the usage`)
  }
  t.same(await prices(h), before, 'nothing was changed')
})

t.test('a Buy after a move to another currency never resumes a checkout opened in the old one', async (t) => {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  await h.upload(admin, { title: 'Paid Guide', price: '5.00' })
  const reader = await h.signIn({ email: 'reader@example.com' })
  const first = await startCheckout(h, reader, 'paid-guide')
  t.equal(first.order.currency, 'usd')
  // As npm run reprice at a rate of 1 would leave it, while the app runs on.
  await h.app.db.updateTable('content').set({ currency: 'eur' }).execute()
  const second = await startCheckout(h, reader, 'paid-guide')
  t.not(second.sessionId, first.sessionId, 'a new Checkout Session')
  t.equal(second.order.currency, 'eur', 'in the item\'s currency now')
  t.equal(h.stripe.sessions.get(second.sessionId)?.currency, 'eur')
})
