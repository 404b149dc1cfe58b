import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig, readConfig } from '../../src/config.js'

const dir = mkdtempSync(join(tmpdir(), 'market-config-'))
const production = {
  DATABASE_URL: join(dir, 'db.sqlite'),
  SESSION_SECRET: 'x'.repeat(32),
  NODE_ENV: 'production',
  PUBLIC_URL: 'https://shop.example.com',
  STRIPE_SECRET_KEY: 'sk_live_abc',
  STRIPE_WEBHOOK_SECRET: 'whsec_abc'
}
const refused = (env: Record<string, string>): string[] => readConfig(env).problems.map((problem) => problem.variable)

t.test('production runs with email sign-in alone: OAUTH_PROVIDER is needed only without it', async (t) => {
  const config = loadConfig({ ...production, SMTP_URL: 'smtps://u:p@smtp.example.com:465' })
  t.equal(config.oauth, null)
  t.equal(config.emailSignIn, true)
  t.same(refused(production), ['OAUTH_PROVIDER'], 'no mail: no way in without a provider')
  t.same(refused({ ...production, SMTP_URL: 'smtps://u:p@smtp.example.com:465', EMAIL_SIGN_IN: '0' }), ['OAUTH_PROVIDER'], 'email sign-in turned off')
  t.same(refused({ ...production, EMAIL_SIGN_IN: 'yes' }), ['EMAIL_SIGN_IN', 'OAUTH_PROVIDER'])
  const both = loadConfig({ ...production, SMTP_URL: 'smtp://h:25', OAUTH_PROVIDER: 'github', OAUTH_CLIENT_ID: 'i', OAUTH_CLIENT_SECRET: 's' })
  t.equal(both.oauth?.provider, 'github')
})

t.test('MAIL_PER_MINUTE paces mail to buyers; 60 by default', async (t) => {
  t.equal(loadConfig({ ...production, SMTP_URL: 'smtp://h:25' }).bulkMailPerMinute, 60)
  t.equal(loadConfig({ ...production, SMTP_URL: 'smtp://h:25', MAIL_PER_MINUTE: '600' }).bulkMailPerMinute, 600)
  t.same(refused({ ...production, SMTP_URL: 'smtp://h:25', MAIL_PER_MINUTE: '0' }), ['MAIL_PER_MINUTE'])
})

t.test('DKIM: all of domain, selector and key, the key checked at start and never echoed', async (t) => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const file = join(dir, 'dkim.pem')
  writeFileSync(file, pem)
  const base = { ...production, SMTP_URL: 'smtp://h:25' }
  t.equal(loadConfig(base).dkim, null, 'off by default')
  const fromFile = loadConfig({ ...base, DKIM_DOMAIN: 'Example.com', DKIM_SELECTOR: 'mail', DKIM_PRIVATE_KEY_FILE: file })
  t.same({ ...fromFile.dkim, privateKey: '' }, { domainName: 'example.com', keySelector: 'mail', privateKey: '' })
  const inline = loadConfig({ ...base, DKIM_DOMAIN: 'example.com', DKIM_SELECTOR: 'mail', DKIM_PRIVATE_KEY: pem.replace(/\n/g, '\\n') })
  t.equal(inline.dkim?.privateKey, pem, 'escaped line breaks become real ones')
  t.same(refused({ ...base, DKIM_SELECTOR: 'mail', DKIM_PRIVATE_KEY_FILE: file }), ['DKIM_DOMAIN'])
  t.same(refused({ ...base, DKIM_DOMAIN: 'example.com', DKIM_PRIVATE_KEY_FILE: file }), ['DKIM_SELECTOR'])
  t.same(refused({ ...base, DKIM_DOMAIN: 'example.com', DKIM_SELECTOR: 'mail' }), ['DKIM_PRIVATE_KEY'])
  t.same(refused({ ...base, DKIM_DOMAIN: 'example.com', DKIM_SELECTOR: 'mail', DKIM_PRIVATE_KEY_FILE: join(dir, 'missing.pem') }), ['DKIM_PRIVATE_KEY_FILE'])
  try {
    loadConfig({ ...base, DKIM_DOMAIN: 'example.com', DKIM_SELECTOR: 'mail', DKIM_PRIVATE_KEY: 'secret-not-a-key' })
    t.fail('a bad key is refused')
  } catch (error) {
    t.ok(error instanceof ConfigError)
    t.match((error as Error).message, /^DKIM_PRIVATE_KEY: is not a PEM private key/)
    t.notMatch((error as Error).message, 'secret-not-a-key', 'the value is not echoed')
  }
})
