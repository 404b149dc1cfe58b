import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig, readConfig } from '../../src/config.js'
import { lookalikeWarnings } from '../../src/config/names.js'
import { loadEnvFile } from '../../src/env.js'

const dir = mkdtempSync(join(tmpdir(), 'market-config-problems-'))
const base = { DATABASE_URL: join(dir, 'db.sqlite'), SESSION_SECRET: 'x'.repeat(32) }

function refused (env: Record<string, string>): ConfigError {
  try {
    loadConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error('the config was accepted')
}

t.test('every refused setting is reported at once, one line each naming its variable, with the messages unchanged', async (t) => {
  const error = refused({ ...base, STORE_CURRENCY: 'dollars', SESSION_SECRET: 'short', SMTP_URL: 'http://smtp.example.com', PORT: 'eighty' })
  t.same(error.problems.map((problem) => problem.variable), ['PORT', 'SESSION_SECRET', 'STORE_CURRENCY', 'SMTP_URL'])
  t.equal(error.variable, 'PORT', 'the first one is the error\'s variable')
  const lines = error.message.split('\n')
  t.equal(lines.length, 4)
  t.match(lines[0], /^PORT: must be a whole number, got "eighty"$/)
  t.match(lines[1], /^SESSION_SECRET: must be at least 32 characters, got 5$/)
  t.match(lines[2], /^STORE_CURRENCY: must be an ISO currency code Stripe can charge in/)
  t.match(lines[3], /^SMTP_URL: must start with smtp:\/\/ or smtps:\/\//)
  t.equal(refused({ ...base, PORT: 'eighty' }).message, 'PORT: must be a whole number, got "eighty"', 'one problem reads as before')
})

t.test('production without its settings names every missing one at once', async (t) => {
  const error = refused({ ...base, SESSION_SECRET: '', NODE_ENV: 'production', OAUTH_PROVIDER: 'github', OAUTH_CLIENT_ID: 'id', OAUTH_CLIENT_SECRET: 'secret' })
  t.same(error.problems.map((problem) => problem.variable), ['PUBLIC_URL', 'SESSION_SECRET', 'STRIPE_SECRET_KEY'])
})

t.test('a refusal does not bring guesses about the settings that depend on it', async (t) => {
  const { problems } = readConfig({ ...base, PAYMENT_PROVIDER: 'molie', NODE_ENV: 'production', PUBLIC_URL: 'https://shop.example.com', OAUTH_PROVIDER: 'github', OAUTH_CLIENT_ID: 'id', OAUTH_CLIENT_SECRET: 'secret' })
  t.same(problems.map((problem) => problem.variable), ['PAYMENT_PROVIDER'], 'no STRIPE_SECRET_KEY or STORE_CURRENCY guessed from a mistyped provider')
  const s3 = readConfig({ ...base, STORAGE_URL: 's3://my-bucket', S3_REGION: 'Europe', DOWNLOAD_OFFLOAD: 'redirect' })
  t.same(s3.problems.map((problem) => problem.variable), ['S3_REGION'], 'no DOWNLOAD_OFFLOAD refusal guessed from a refused storage')
})

t.test('readConfig with demoSecret false writes no session secret', async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'market-doctor-secret-'))
  const { config, problems } = readConfig({ DATABASE_URL: join(empty, 'db.sqlite') }, { demoSecret: false })
  t.same(problems, [])
  t.equal(config.sessionSecret, '')
  t.same(spawnSync('ls', ['-A', empty], { encoding: 'utf8' }).stdout, '', 'nothing written')
})

t.test('names that look like settings are warned about with a guess; the shell\'s own variables are not', async (t) => {
  const warnings = lookalikeWarnings({
    STORE_CURENCY: 'eur',
    STRIPE_SECRET: 'sk_test_x',
    SMTP_HOST: 'mail.example.com',
    STORE_CURRENCY: 'eur',
    HOME: '/root',
    HOSTNAME: 'box',
    PATH: '/bin',
    PWD: '/',
    AWS_PROFILE: 'shop',
    NODE_OPTIONS: '--max-old-space-size=512',
    npm_config_cache: '/x'
  }, new Set(['STORE_CURENCY']))
  t.same(warnings, [
    'SMTP_HOST is not a setting and is ignored; the SMTP_ settings are SMTP_URL',
    'STORE_CURENCY (in .env) is not a setting: did you mean STORE_CURRENCY?',
    'STRIPE_SECRET is not a setting: did you mean STRIPE_SECRET_KEY?'
  ])
})

t.test('.env is read, the environment winning, and the names it set are returned', async (t) => {
  const file = join(dir, 'dotenv')
  writeFileSync(file, 'MARKET_TEST_FROM_FILE=one\nMARKET_TEST_BOTH=file\n')
  process.env.MARKET_TEST_BOTH = 'environment'
  t.teardown(() => { delete process.env.MARKET_TEST_BOTH; delete process.env.MARKET_TEST_FROM_FILE })
  t.same([...loadEnvFile(file)].sort(), ['MARKET_TEST_BOTH', 'MARKET_TEST_FROM_FILE'])
  t.equal(process.env.MARKET_TEST_FROM_FILE, 'one')
  t.equal(process.env.MARKET_TEST_BOTH, 'environment')
  t.same([...loadEnvFile(join(dir, 'absent'))], [], 'no .env: nothing')
})

t.test('the server in production prints every configuration problem, one line each, and the lookalike warnings, then exits 1', async (t) => {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { PATH: process.env.PATH, DATABASE_URL: join(dir, 'server.db'), NODE_ENV: 'production', OAUTH_PROVIDER: 'github', OAUTH_CLIENT_ID: 'id', OAUTH_CLIENT_SECRET: 'secret', STRIPE_SECRET: 'sk_test_abc', STORE_CURENCY: 'eur' },
    encoding: 'utf8',
    timeout: 30_000
  })
  t.equal(result.status, 1)
  t.same(result.stderr.trim().split('\n'), [
    'Configuration warning: STORE_CURENCY is not a setting: did you mean STORE_CURRENCY?',
    'Configuration warning: STRIPE_SECRET is not a setting: did you mean STRIPE_SECRET_KEY?',
    'Configuration error: PUBLIC_URL: is required in production',
    'Configuration error: SESSION_SECRET: is required in production (at least 32 random characters)',
    'Configuration error: STRIPE_SECRET_KEY: is required in production'
  ])
})
