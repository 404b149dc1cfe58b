import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { migrateToLatest, openDatabase } from '../../src/db/database.js'
import { startIdentityProvider } from '../../src/dev/identity-provider.js'
import { startStripeEmulator } from '../../src/dev/stripe-emulator/index.js'
import { STRIPE_EVENTS } from '../../scripts/doctor/payments.js'
import { closedSmtp, smtpServer } from '../helpers/smtp.js'

// `npm run doctor` as an operator runs it (the build first, then dist/scripts/doctor.js), against
// local stand-ins: the Stripe emulator, a real SMTP server, the demo's identity provider, a
// migrated SQLite file and a content folder.

const PUBLIC = 'https://shop.example.com'

/** Runs it in a child process without blocking this one, where the stand-ins answer. */
async function doctor (env: Record<string, string>, ...args: string[]): Promise<{ status: number | null, lines: string[] }> {
  const child = spawn('npm', ['run', '--silent', 'doctor', ...(args.length > 0 ? ['--', ...args] : [])], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const [status] = await once(child, 'close') as [number | null]
  if (status !== 0 && status !== 1) throw new Error(`doctor ended with ${status}: ${stderr}`)
  return { status, lines: stdout.trim().split('\n') }
}

t.test('npm run doctor: green against working stand-ins, red naming every bad value at once, the missing webhook said exactly and created on request', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'market-doctor-'))
  const database = openDatabase(join(dir, 'shop.db'))
  await migrateToLatest(database.db)
  await database.close()
  mkdirSync(join(dir, 'content'))
  const smtp = await smtpServer(t)
  const stripe = await startStripeEmulator({ webhookSecret: 'whsec_emulator' })
  t.teardown(() => stripe.close())
  const idp = await startIdentityProvider()
  t.teardown(() => idp.close())
  const env = {
    NODE_ENV: 'production',
    PUBLIC_URL: PUBLIC,
    SESSION_SECRET: 'a'.repeat(40),
    DATABASE_URL: join(dir, 'shop.db'),
    CONTENT_DIR: join(dir, 'content'),
    STRIPE_SECRET_KEY: 'sk_test_doctor',
    STRIPE_WEBHOOK_SECRET: 'whsec_old',
    STRIPE_API_URL: stripe.url,
    OAUTH_PROVIDER: 'oidc',
    OAUTH_CLIENT_ID: 'shop',
    OAUTH_CLIENT_SECRET: 'secret',
    OIDC_ISSUER: idp.url,
    SMTP_URL: smtp.url
  }
  // A read-only reader of a WAL database leaves SQLite's empty -shm and -wal beside it, as the app does.
  const files = (): string[] => readdirSync(dir).filter((name) => !/-(shm|wal)$/.test(name)).sort()
  const filesBefore = files()
  const databaseBefore = readFileSync(join(dir, 'shop.db'))

  const missing = await doctor(env)
  t.equal(missing.status, 1, 'no webhook endpoint: exit 1')
  t.same(missing.lines, [
    'warning: STRIPE_SECRET_KEY is a test key in production: no real payment will be taken',
    `STRIPE_WEBHOOK_SECRET: Stripe has no webhook endpoint for ${PUBLIC}/webhooks/stripe. Create one (Dashboard > Developers > Webhooks > Add endpoint) with that URL and the events ${STRIPE_EVENTS.join(', ')}, and set STRIPE_WEBHOOK_SECRET to its signing secret; or run: npm run doctor -- --create-webhook`,
    '1 problem found; nothing was changed.'
  ])
  t.same(stripe.requests.map((request) => `${request.method} ${request.path}`), ['GET /v1/webhook_endpoints'], 'the key checked with one read, nothing created')
  t.equal(smtp.messages().length, 0, 'no mail sent')
  t.same(files(), filesBefore, 'no file written')
  t.ok(readFileSync(join(dir, 'shop.db')).equals(databaseBefore), 'the database unchanged')
  t.equal(statSync(join(dir, 'shop.db-wal')).size, 0, 'nothing in its write-ahead log')

  const created = await doctor(env, '--create-webhook')
  t.equal(created.status, 1, 'the new secret is not configured yet')
  t.match(created.lines[0], new RegExp(`^Created the webhook endpoint we_\\w+ for ${PUBLIC}/webhooks/stripe with the events ${STRIPE_EVENTS.join(', ')}\\.$`))
  t.match(created.lines[1], /^Its signing secret \(shown only now\): whsec_\w+$/)
  t.same(created.lines.slice(-2), ['STRIPE_WEBHOOK_SECRET: set it to the signing secret above, then restart the app', '1 problem found; only the webhook endpoint above was created.'])
  const post = stripe.requests.find((request) => request.method === 'POST')
  t.match(post, { path: '/v1/webhook_endpoints', body: { url: `${PUBLIC}/webhooks/stripe`, enabled_events: [...STRIPE_EVENTS] } })

  const secret = /whsec_\w+/.exec(created.lines[1]!)![0]
  const green = await doctor({ ...env, STRIPE_WEBHOOK_SECRET: secret, METRICS_TOKEN: 'a-metrics-token-of-some-length' })
  t.equal(green.status, 0, 'all well: exit 0')
  t.match(green.lines, [
    'warning: STRIPE_SECRET_KEY is a test key in production: no real payment will be taken',
    `ok  configuration: production, ${PUBLIC}, USD`,
    /^ok {2}database: .*shop\.db, migrations up to date$/,
    /^ok {2}storage: .*content is writable$/,
    /^ok {2}mail: smtp:\/\/127\.0\.0\.1:\d+ accepted the connection$/,
    new RegExp(`^ok {2}payments: Stripe accepted the key \\(test mode\\); webhook endpoint we_\\w+ for ${PUBLIC}/webhooks/stripe sends the 5 events$`),
    `ok  sign-in: oidc at ${idp.url} (discovery found)`,
    'ok  metrics: on, GET /metrics answers Prometheus with METRICS_TOKEN as its bearer token',
    'No problems found.'
  ])
  t.equal(green.lines.length, 9)
  t.equal(smtp.messages().length, 0, 'the relay was checked, no mail sent')

  const closed = await closedSmtp()
  const red = await doctor({ ...env, STRIPE_WEBHOOK_SECRET: secret, STORE_CURRENCY: 'dollars', SESSION_SECRET: 'too-short', SMTP_URL: closed.url, STORE_CURENCY: 'eur', METRICS_TOKEN: 'short' })
  t.equal(red.status, 1)
  t.same(red.lines, [
    'warning: STORE_CURENCY is not a setting: did you mean STORE_CURRENCY?',
    'warning: STRIPE_SECRET_KEY is a test key in production: no real payment will be taken',
    'SESSION_SECRET: must be at least 32 characters, got 9',
    'STORE_CURRENCY: must be an ISO currency code Stripe can charge in (usd, eur, jpy, ...), got "dollars"',
    'METRICS_TOKEN: must be at least 16 characters, got 5',
    `SMTP_URL: could not talk to smtp://127.0.0.1:${closed.port}: connect ECONNREFUSED 127.0.0.1:${closed.port} (ESOCKET)`,
    '4 problems found; nothing was changed.'
  ], 'the four bad values at once, each naming its variable')
})

t.test('the webhook events the doctor asks for are the ones the Stripe provider handles', async (t) => {
  const source = readFileSync('src/modules/purchase/providers/stripe.ts', 'utf8')
  const body = source.slice(source.indexOf('function paymentEvent'))
  const handled = [...body.matchAll(/case '([a-z_.]+)':/g)].map((match) => match[1])
  t.same([...handled].sort(), [...STRIPE_EVENTS].sort())
})
