import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.js'
import { createServer } from 'node:net'
import { migrateToLatest, openDatabase } from '../../src/db/database.js'
import { migrations } from '../../migrations/index.js'

const dir = mkdtempSync(join(tmpdir(), 'market-config-'))
const base = { DATABASE_URL: join(dir, 'db.sqlite'), SESSION_SECRET: 'x'.repeat(32) }
const production = {
  ...base,
  NODE_ENV: 'production',
  PUBLIC_URL: 'https://shop.example.com',
  STRIPE_SECRET_KEY: 'sk_live_abc',
  STRIPE_WEBHOOK_SECRET: 'whsec_abc',
  OAUTH_PROVIDER: 'github',
  OAUTH_CLIENT_ID: 'id',
  OAUTH_CLIENT_SECRET: 'secret'
}

/** The variable a refused config names, or undefined when it is accepted. */
function refusal (env: Record<string, string>): string | undefined {
  try {
    loadConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) return error.variable
    throw error
  }
  return undefined
}

t.test('defaults follow the contract', async (t) => {
  const config = loadConfig(base)
  t.equal(config.port, 3000)
  t.equal(config.host, '127.0.0.1')
  t.equal(config.publicUrl, 'http://localhost:3000')
  t.equal(config.currency, 'usd')
  t.equal(config.maxUploadBytes, 100 * 1024 * 1024)
  t.equal(config.rateLimitPerMinute, 60)
  t.equal(config.stripe, null, 'no Stripe: the demo stands in')
  t.equal(config.oauth, null, 'no OAuth: the demo stands in')
  t.equal(loadConfig({ ...base, PORT: '4000' }).publicUrl, 'http://localhost:4000')
})

t.test('values are read and normalised', async (t) => {
  const config = loadConfig({ ...base, DATABASE_URL: `sqlite:${join(dir, 'x.db')}`, ADMIN_EMAILS: ' Admin@Example.com, b@example.com ', STORE_CURRENCY: 'EUR', PUBLIC_URL: 'https://shop.example.com/', RATE_LIMIT_PER_MINUTE: '0' })
  t.equal(config.databasePath, join(dir, 'x.db'), 'a sqlite: prefix is allowed')
  t.same(config.adminEmails, ['admin@example.com', 'b@example.com'])
  t.equal(config.currency, 'eur')
  t.equal(config.publicUrl, 'https://shop.example.com')
  t.equal(config.rateLimitPerMinute, 0)
})

t.test('bad values are refused naming the variable', async (t) => {
  t.equal(refusal({ ...base, PORT: 'eighty' }), 'PORT')
  t.equal(refusal({ ...base, PORT: '70000' }), 'PORT')
  t.equal(refusal({ ...base, PUBLIC_URL: 'not a url' }), 'PUBLIC_URL')
  t.equal(refusal({ ...base, PUBLIC_URL: 'ftp://x.example' }), 'PUBLIC_URL')
  t.equal(refusal({ ...base, SESSION_SECRET: 'short' }), 'SESSION_SECRET')
  t.equal(refusal({ ...base, STORE_CURRENCY: 'dollars' }), 'STORE_CURRENCY')
  t.equal(refusal({ ...base, MAX_UPLOAD_MB: '0' }), 'MAX_UPLOAD_MB')
  t.equal(refusal({ ...base, RATE_LIMIT_PER_MINUTE: '-1' }), 'RATE_LIMIT_PER_MINUTE')
  t.equal(refusal({ ...base, ADMIN_EMAILS: 'not-an-email' }), 'ADMIN_EMAILS')
  t.equal(refusal({ ...base, OAUTH_PROVIDER: 'myspace' }), 'OAUTH_PROVIDER')
  t.equal(refusal({ ...base, OAUTH_PROVIDER: 'oidc', OAUTH_CLIENT_ID: 'a', OAUTH_CLIENT_SECRET: 'b' }), 'OIDC_ISSUER')
  t.equal(refusal({ ...base, OAUTH_PROVIDER: 'github', OAUTH_CLIENT_SECRET: 'b' }), 'OAUTH_CLIENT_ID')
  t.equal(refusal({ ...base, STRIPE_SECRET_KEY: 'pk_test_abc', STRIPE_WEBHOOK_SECRET: 'whsec_x' }), 'STRIPE_SECRET_KEY')
  t.equal(refusal({ ...base, STRIPE_SECRET_KEY: 'sk_test_abc' }), 'STRIPE_WEBHOOK_SECRET')
  t.equal(refusal({ ...base, STRIPE_SECRET_KEY: 'sk_test_abc', STRIPE_WEBHOOK_SECRET: 'secret' }), 'STRIPE_WEBHOOK_SECRET')
  t.equal(refusal({ ...base, STRIPE_SECRET_KEY: 'sk_test_abc', STRIPE_WEBHOOK_SECRET: 'whsec_x', STRIPE_API_URL: 'nope' }), 'STRIPE_API_URL')
})

t.test('a mistyped NODE_ENV, LOG_LEVEL, TRUST_PROXY, SESSION_DAYS or database folder is refused naming it', async (t) => {
  t.equal(refusal({ ...base, NODE_ENV: 'prod' }), 'NODE_ENV', 'prod is not production: never silently demo mode')
  t.equal(refusal({ ...base, NODE_ENV: 'Production' }), 'NODE_ENV')
  for (const value of ['production', 'development', 'test']) {
    t.equal(refusal({ ...(value === 'production' ? production : base), NODE_ENV: value }), undefined, `NODE_ENV=${value} is accepted`)
  }
  t.equal(refusal({ ...base, LOG_LEVEL: 'verbose' }), 'LOG_LEVEL')
  t.equal(loadConfig({ ...base, LOG_LEVEL: 'silent' }).logLevel, 'silent')
  t.equal(loadConfig(base).trustProxy, false, 'TRUST_PROXY defaults to false')
  t.equal(loadConfig({ ...base, TRUST_PROXY: 'true' }).trustProxy, true)
  t.equal(loadConfig({ ...base, TRUST_PROXY: '2' }).trustProxy, 2, 'a hop count')
  t.same(loadConfig({ ...base, TRUST_PROXY: '127.0.0.1, 10.0.0.0/8,::1' }).trustProxy, ['127.0.0.1', '10.0.0.0/8', '::1'])
  t.equal(refusal({ ...base, TRUST_PROXY: 'yes' }), 'TRUST_PROXY')
  t.equal(refusal({ ...base, TRUST_PROXY: '10.0.0.0/40' }), 'TRUST_PROXY')
  t.equal(loadConfig(base).sessionDays, 30)
  t.equal(loadConfig({ ...base, SESSION_DAYS: '7' }).sessionDays, 7)
  t.equal(refusal({ ...base, SESSION_DAYS: '0' }), 'SESSION_DAYS')
  t.equal(refusal({ ...base, SESSION_DAYS: 'a week' }), 'SESSION_DAYS')
  const missing = join(dir, 'nonexistent', 'dir', 'x.db')
  t.equal(refusal({ ...base, DATABASE_URL: missing }), 'DATABASE_URL', 'a missing folder is not created')
  t.equal(refusal({ ...base, DATABASE_URL: `sqlite:${missing}` }), 'DATABASE_URL')
  t.notOk(existsSync(join(dir, 'nonexistent')), 'nothing was created')
})

t.test('delivery settings: defaults, and every mistyped value refused naming its variable', async (t) => {
  const config = loadConfig(base)
  t.equal(config.guestCheckout, true, 'guest checkout is on by default')
  t.equal(config.smtpUrl, null)
  t.equal(config.mailFrom, null)
  t.equal(config.downloadLinkDays, 7)
  t.equal(config.downloadLimit, 0)
  t.equal(loadConfig({ ...base, GUEST_CHECKOUT: '0' }).guestCheckout, false)
  t.equal(loadConfig({ ...base, SMTP_URL: 'smtps://u:p@smtp.example.com:465' }).smtpUrl, 'smtps://u:p@smtp.example.com:465')
  t.equal(loadConfig({ ...base, MAIL_FROM: 'Shop <orders@example.com>' }).mailFrom, 'Shop <orders@example.com>')
  t.equal(refusal({ ...base, GUEST_CHECKOUT: 'yes' }), 'GUEST_CHECKOUT')
  t.equal(refusal({ ...base, SMTP_URL: 'http://smtp.example.com' }), 'SMTP_URL')
  t.equal(refusal({ ...base, SMTP_URL: 'smtp.example.com:25' }), 'SMTP_URL')
  t.equal(refusal({ ...base, MAIL_FROM: 'orders@example.com\r\nBcc: x@evil.example' }), 'MAIL_FROM')
  t.equal(refusal({ ...base, MAIL_FROM: 'not an address' }), 'MAIL_FROM')
  t.equal(refusal({ ...base, DOWNLOAD_LINK_DAYS: '0' }), 'DOWNLOAD_LINK_DAYS')
  t.equal(refusal({ ...base, DOWNLOAD_LIMIT: '-1' }), 'DOWNLOAD_LIMIT')
  // A password in SMTP_URL is never repeated in the error.
  try { loadConfig({ ...base, SMTP_URL: 'ftp://user:hunter2secret@host' }) } catch (error) { t.notMatch((error as Error).message, 'hunter2secret') }
})

t.test('payment provider settings: stripe by default, mollie with its key; every mistyped value refused naming its variable', async (t) => {
  const mollieKey = 'test_' + 'a1B2'.repeat(8)
  t.equal(loadConfig(base).paymentProvider, 'stripe')
  const mollie = loadConfig({ ...base, PAYMENT_PROVIDER: 'mollie', MOLLIE_API_KEY: mollieKey, MOLLIE_API_URL: 'https://127.0.0.1:8443/v2', STORE_CURRENCY: 'eur' })
  t.equal(mollie.paymentProvider, 'mollie')
  t.same(mollie.mollie, { apiKey: mollieKey, apiUrl: 'https://127.0.0.1:8443/v2/' }, 'the endpoint ends in one slash, as the client joins paths to it')
  t.equal(mollie.stripe, null, 'Stripe is not needed with Mollie')
  t.equal(refusal({ ...base, PAYMENT_PROVIDER: 'molie' }), 'PAYMENT_PROVIDER')
  t.equal(refusal({ ...base, PAYMENT_PROVIDER: 'Stripe ' }), 'PAYMENT_PROVIDER')
  t.equal(refusal({ ...base, PAYMENT_PROVIDER: 'mollie', MOLLIE_API_KEY: 'sk_test_abc' }), 'MOLLIE_API_KEY', 'a Stripe key in the Mollie variable')
  t.equal(refusal({ ...base, PAYMENT_PROVIDER: 'mollie', MOLLIE_API_KEY: mollieKey, MOLLIE_API_URL: 'http://127.0.0.1:8443/v2' }), 'MOLLIE_API_URL', 'the client speaks only https')
  t.equal(refusal({ ...base, PAYMENT_PROVIDER: 'mollie', MOLLIE_API_URL: 'https://127.0.0.1:8443/v2' }), 'MOLLIE_API_KEY', 'an endpoint without a key')
  t.equal(refusal({ ...base, PAYMENT_PROVIDER: 'mollie', STORE_CURRENCY: 'kwd' }), 'STORE_CURRENCY', 'a currency Mollie does not charge in')
  t.equal(refusal({ ...base, PAYMENT_PROVIDER: 'mollie', STORE_CURRENCY: 'isk' }), 'STORE_CURRENCY', 'nor one it writes differently')
  const liveMollie = { ...production, STRIPE_SECRET_KEY: '', STRIPE_WEBHOOK_SECRET: '', PAYMENT_PROVIDER: 'mollie', MOLLIE_API_KEY: 'live_' + 'x9'.repeat(15), STORE_CURRENCY: 'eur' }
  t.equal(loadConfig(liveMollie).paymentProvider, 'mollie', 'production with Mollie needs no Stripe keys')
  t.equal(refusal({ ...liveMollie, MOLLIE_API_KEY: '' }), 'MOLLIE_API_KEY', 'but its own key')
  t.equal(refusal({ ...liveMollie, NODE_TLS_REJECT_UNAUTHORIZED: '0' }), 'NODE_TLS_REJECT_UNAUTHORIZED', 'production never runs without certificate checks')
  t.equal(refusal({ ...production, NODE_TLS_REJECT_UNAUTHORIZED: '0' }), 'NODE_TLS_REJECT_UNAUTHORIZED')
  t.equal(refusal({ ...base, NODE_TLS_REJECT_UNAUTHORIZED: '0' }), undefined, 'outside production a local stand-in may need it')
  // The key is a secret: never repeated in the error.
  try { loadConfig({ ...base, PAYMENT_PROVIDER: 'mollie', MOLLIE_API_KEY: 'live_short!secret' }) } catch (error) { t.notMatch((error as Error).message, 'short!secret') }
})

t.test('storage and download offload: the folder by default, an s3:// bucket with its settings; every mistyped value refused naming its variable, secrets never echoed', async (t) => {
  const folder = loadConfig(base)
  t.same(folder.storage, { kind: 'folder', dir: folder.contentDir, variable: 'CONTENT_DIR' })
  t.equal(folder.downloadOffload, 'none')
  t.equal(folder.xAccelPrefix, '/protected/')
  const named = loadConfig({ ...base, STORAGE_URL: `file:${join(dir, 'files')}`, DOWNLOAD_OFFLOAD: 'x-accel', X_ACCEL_PREFIX: '/files/' })
  t.same(named.storage, { kind: 'folder', dir: join(dir, 'files'), variable: 'STORAGE_URL' })
  t.equal(named.contentDir, join(dir, 'files'), 'the folder STORAGE_URL names is the content folder')
  t.equal(named.downloadOffload, 'x-accel')
  t.equal(named.xAccelPrefix, '/files/')

  const s3 = loadConfig({ ...base, STORAGE_URL: 's3://my-bucket/shop/files/', S3_ENDPOINT: 'http://127.0.0.1:4568/', S3_FORCE_PATH_STYLE: '1', AWS_ACCESS_KEY_ID: 'KEY', AWS_SECRET_ACCESS_KEY: 'SECRET', DOWNLOAD_OFFLOAD: 'redirect' })
  t.same(s3.storage, { kind: 's3', bucket: 'my-bucket', prefix: 'shop/files', endpoint: 'http://127.0.0.1:4568', region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'KEY', secretAccessKey: 'SECRET' } })
  t.same(loadConfig({ ...base, STORAGE_URL: 's3://my-bucket', S3_REGION: 'eu-west-3' }).storage,
    { kind: 's3', bucket: 'my-bucket', prefix: '', endpoint: undefined, region: 'eu-west-3', forcePathStyle: false, credentials: undefined }, 'no keys: the SDK\'s default chain')

  const s3Base = { ...base, STORAGE_URL: 's3://my-bucket/shop' }
  for (const [env, variable] of [
    [{ STORAGE_URL: 'ftp://host/x' }, 'STORAGE_URL'],
    [{ STORAGE_URL: 's3://' }, 'STORAGE_URL'],
    [{ STORAGE_URL: 's3://My_Bucket/x' }, 'STORAGE_URL'],
    [{ STORAGE_URL: 's3://bucket/../x' }, 'STORAGE_URL'],
    [{ STORAGE_URL: 's3://bucket/a//b' }, 'STORAGE_URL'],
    [{ STORAGE_URL: 'file:' }, 'STORAGE_URL'],
    [{ STORAGE_URL: `file:${join(dir, 'a')}`, CONTENT_DIR: join(dir, 'b') }, 'STORAGE_URL'],
    [{ S3_ENDPOINT: 'http://127.0.0.1:9000' }, 'S3_ENDPOINT'],
    [{ S3_FORCE_PATH_STYLE: '1' }, 'S3_FORCE_PATH_STYLE'],
    [{ ...s3Base, S3_ENDPOINT: 'localhost:9000' }, 'S3_ENDPOINT'],
    [{ ...s3Base, S3_REGION: 'Europe' }, 'S3_REGION'],
    [{ ...s3Base, S3_FORCE_PATH_STYLE: 'yes' }, 'S3_FORCE_PATH_STYLE'],
    [{ ...s3Base, AWS_ACCESS_KEY_ID: 'KEY' }, 'AWS_SECRET_ACCESS_KEY'],
    [{ ...s3Base, AWS_SECRET_ACCESS_KEY: 'SECRET' }, 'AWS_ACCESS_KEY_ID'],
    [{ DOWNLOAD_OFFLOAD: 'nginx' }, 'DOWNLOAD_OFFLOAD'],
    [{ DOWNLOAD_OFFLOAD: 'redirect' }, 'DOWNLOAD_OFFLOAD'],
    [{ ...s3Base, DOWNLOAD_OFFLOAD: 'x-accel' }, 'DOWNLOAD_OFFLOAD'],
    [{ X_ACCEL_PREFIX: 'protected' }, 'X_ACCEL_PREFIX'],
    [{ X_ACCEL_PREFIX: '/protected' }, 'X_ACCEL_PREFIX']
  ] as const) {
    t.equal(refusal({ ...base, ...env }), variable, `${JSON.stringify(env)}: ${variable}`)
  }

  for (const env of [
    { ...s3Base, AWS_ACCESS_KEY_ID: 'KEY', AWS_SECRET_ACCESS_KEY: 'has a space-secret-value' },
    { STORAGE_URL: 's3://KEY:secret-value@bucket/x' }
  ]) {
    try {
      loadConfig({ ...base, ...env })
      t.fail('accepted')
    } catch (error) {
      t.notMatch((error as Error).message, /secret-value/, 'the secret is not repeated')
    }
  }
})

t.test('production refuses to start without its secrets and settings', async (t) => {
  t.ok(loadConfig(production).production, 'complete production config is accepted')
  const without = (name: keyof typeof production): Record<string, string> => {
    const env: Record<string, string> = { ...production }
    delete env[name]
    return env
  }
  t.equal(refusal(without('SESSION_SECRET')), 'SESSION_SECRET')
  t.equal(refusal(without('PUBLIC_URL')), 'PUBLIC_URL')
  t.equal(refusal(without('OAUTH_PROVIDER')), 'OAUTH_PROVIDER')
  t.equal(refusal(without('OAUTH_CLIENT_SECRET')), 'OAUTH_CLIENT_SECRET')
  t.equal(refusal(without('STRIPE_SECRET_KEY')), 'STRIPE_SECRET_KEY')
  t.equal(refusal(without('STRIPE_WEBHOOK_SECRET')), 'STRIPE_WEBHOOK_SECRET')
})

t.test('the server with a bad value prints one line naming it and exits 1', async (t) => {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { PATH: process.env.PATH, ...base, PORT: 'abc' },
    encoding: 'utf8',
    timeout: 30_000
  })
  t.equal(result.status, 1)
  const lines = result.stderr.trim().split('\n').filter((line) => line !== '')
  t.equal(lines.length, 1, 'one line')
  t.match(lines[0], /^Configuration error: PORT: must be a whole number/)
})

t.test('a port already in use stops the server with one line naming PORT', async (t) => {
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  const port = (blocker.address() as { port: number }).port
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { PATH: process.env.PATH, ...base, DATABASE_URL: join(dir, 'port.db'), CONTENT_DIR: join(dir, 'port-content'), PORT: String(port), LOG_LEVEL: 'silent' },
    encoding: 'utf8',
    timeout: 60_000
  })
  t.equal(result.status, 1)
  const lines = result.stderr.trim().split('\n').filter((line) => line !== '')
  t.equal(lines.length, 1, 'one line')
  t.match(lines[0], new RegExp(`^Configuration error: PORT: ${port} is already in use`))
})

t.test('migrations run from an empty database, and again as a no-op', async (t) => {
  const database = openDatabase(join(dir, 'migrate.db'))
  t.teardown(() => database.close())
  const first = await migrateToLatest(database.db)
  t.same(first.results?.map((r) => r.migrationName), Object.keys(migrations).sort())
  const tables = database.sqlite!.prepare("select name from sqlite_master where type = 'table' and name not like 'kysely%' and name not like 'sqlite%' order by name").all() as Array<{ name: string }>
  // content_fts is the catalogue's FTS5 index; its shadow tables (_config, _data, _docsize, _idx) come with it.
  t.same(tables.map((row) => row.name), ['audience', 'broadcasts', 'bundle_items', 'checkout_claims', 'content', 'content_fts', 'content_fts_config', 'content_fts_data', 'content_fts_docsize', 'content_fts_idx', 'content_versions', 'downloads', 'free_library', 'leases', 'library', 'meta', 'order_events', 'order_lines', 'orders', 'outbox', 'payment_events', 'pdf_assets', 'pdf_jobs', 'refunds', 'sessions', 'settings', 'sign_in_tokens', 'stamped_copies', 'users'])
  t.equal(database.sqlite!.pragma('journal_mode', { simple: true }), 'wal')
  t.equal(database.sqlite!.pragma('foreign_keys', { simple: true }), 1)
  t.equal(database.sqlite!.pragma('busy_timeout', { simple: true }), 5000)
  const second = await migrateToLatest(database.db)
  t.same(second.results, [], 'nothing left to apply')
})

t.test('DATABASE_URL=postgres://... selects PostgreSQL; a bad one is refused without echoing its password', async (t) => {
  for (const scheme of ['postgres', 'postgresql']) {
    const url = `${scheme}://shop:s3cret-pw@db.internal:5433/shop?sslmode=require`
    const config = loadConfig({ ...base, DATABASE_URL: url })
    t.same(config.database, { kind: 'postgres', url, display: `${scheme}://shop@db.internal:5433/shop` }, `${scheme}:// is PostgreSQL, shown without its password`)
  }
  t.same(loadConfig(base).database, { kind: 'sqlite', path: join(dir, 'db.sqlite') }, 'a path is SQLite')
  t.equal(loadConfig({ ...base, DATABASE_URL: 'postgres:///shop?host=/run/postgresql' }).database.kind, 'postgres', 'a Unix socket in ?host= is a host')

  for (const bad of [
    'postgres://shop:s3cret-pw@db.internal:99999/shop',
    'postgres://shop:s3cret-pw@/shop',
    'postgres://shop:s3cret-pw@db.internal/shop/extra',
    'postgres:shop:s3cret-pw',
    'mysql://shop:s3cret-pw@db.internal/shop'
  ]) {
    try {
      loadConfig({ ...base, DATABASE_URL: bad })
      t.fail(`${bad.replace('s3cret-pw', '***')} was accepted`)
    } catch (error) {
      t.ok(error instanceof ConfigError && error.variable === 'DATABASE_URL', 'refused naming DATABASE_URL')
      t.notMatch((error as Error).message, /s3cret/, 'the message does not repeat the password')
    }
  }
})
