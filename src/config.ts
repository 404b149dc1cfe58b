import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { normalizeEmail } from './lib/email.js'
import { isMollieCurrency, isSupportedCurrency } from './lib/money.js'
import { type Env, flag, integer, read, url } from './config/read.js'
import { dkimConfig, mailFrom, mollieConfig, oauthConfig, paymentProvider, smtpUrl, stripeConfig } from './config/services.js'
import { databaseConfig, DEFAULT_DATABASE, downloadOffload, storageConfig, xAccelPrefix } from './config/stores.js'
import { type Config, ConfigError, type DownloadOffload, type PaymentProviderName, type StorageConfig } from './config/types.js'

// The environment turned into a typed config: the variables in src/config/ (read.ts the
// shapes, services.ts the providers and mail, stores.ts the database and files), put together
// and checked against each other here.

export {
  type AppConfig, type Config, ConfigError, type DatabaseConfig, type DkimConfig, type DownloadOffload, type MollieConfig, type OAuthConfig,
  type OAuthEndpoints, type OAuthProvider, type PaymentProviderName, type S3Config, type StorageConfig, type StripeConfig
} from './config/types.js'

const NODE_ENVS = ['production', 'development', 'test']
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/**
 * In demo mode a newcomer should not have to invent a secret, but sessions should survive a
 * restart, so one is generated once and kept beside the database.
 */
function demoSessionSecret (databasePath: string): string {
  const file = join(dirname(databasePath), 'session-secret')
  try {
    const existing = readFileSync(file, 'utf8').trim()
    if (existing.length >= 32) return existing
  } catch {}
  const secret = randomBytes(32).toString('base64url')
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, secret + '\n', { mode: 0o600 })
  return secret
}

/** `false`, `true`, a hop count, or comma-separated addresses/CIDRs of the proxies to believe. */
function trustProxy (env: Env): Config['trustProxy'] {
  const raw = read(env, 'TRUST_PROXY')
  if (raw === undefined || raw === 'false') return false
  if (raw === 'true') return true
  if (/^\d+$/.test(raw)) return integer(env, 'TRUST_PROXY', 0, 0, 100)
  const entries = raw.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '')
  for (const entry of entries) {
    const [address = '', bits, ...extra] = entry.split('/')
    const family = isIP(address)
    const maxBits = family === 6 ? 128 : 32
    if (family === 0 || extra.length > 0 || (bits !== undefined && (!/^\d+$/.test(bits) || Number(bits) > maxBits))) {
      throw new ConfigError('TRUST_PROXY', `must be false, true, a hop count or comma-separated IP addresses/CIDRs, got "${entry}"`)
    }
  }
  return entries
}

function adminEmails (env: Env): string[] {
  const emails = (read(env, 'ADMIN_EMAILS') ?? '')
    .split(',').map((email) => normalizeEmail(email.trim())).filter((email) => email !== '')
  for (const email of emails) {
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw new ConfigError('ADMIN_EMAILS', `"${email}" is not an email address`)
  }
  return emails
}

/** METRICS_TOKEN: unset means no /metrics; a short one would be guessable, so it is refused. */
function metricsToken (env: Env): string | null {
  const token = read(env, 'METRICS_TOKEN')
  if (token === undefined) return null
  if (token.length < 16) throw new ConfigError('METRICS_TOKEN', `must be at least 16 characters, got ${token.length}`)
  return token
}

/** What readConfig found: the config (with a stand-in value wherever a setting was refused) and every refusal. */
export interface ConfigReading {
  config: Config
  problems: ConfigError[]
}

/**
 * Reads every setting, collecting each refusal instead of stopping at the first, so a person
 * sees them all at once. `demoSecret: false` (npm run doctor) never writes demo mode's session
 * secret: the config then holds an empty one.
 */
export function readConfig (env: Env = process.env, options: { demoSecret?: boolean } = {}): ConfigReading {
  const problems: ConfigError[] = []
  /** The setting `run` reads, or `fallback` when it is refused (the refusal kept). */
  const take = <T>(fallback: T, run: () => T): T => {
    try {
      return run()
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error
      problems.push(...error.problems)
      return fallback
    }
  }
  const refuse = (variable: string, problem: string): void => { problems.push(new ConfigError(variable, problem)) }

  const nodeEnv = read(env, 'NODE_ENV')
  // A typo such as NODE_ENV=prod must never quietly mean demo mode.
  if (nodeEnv !== undefined && !NODE_ENVS.includes(nodeEnv)) refuse('NODE_ENV', `must be production, development, test or unset, got "${nodeEnv}"`)
  const production = nodeEnv === 'production'
  let logLevel = read(env, 'LOG_LEVEL') ?? 'info'
  if (!LOG_LEVELS.includes(logLevel)) {
    refuse('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`)
    logLevel = 'info'
  }

  const port = take(3000, () => integer(env, 'PORT', 3000, 0, 65535))
  const host = read(env, 'HOST') ?? '127.0.0.1'
  const rawPublicUrl = read(env, 'PUBLIC_URL')
  if (rawPublicUrl === undefined && production) refuse('PUBLIC_URL', 'is required in production')
  const publicUrl = take(`http://localhost:${port}`, () => url('PUBLIC_URL', rawPublicUrl ?? `http://localhost:${port}`))

  const before = problems.length
  const databaseSetting = take<Config['database']>({ kind: 'sqlite', path: resolve(DEFAULT_DATABASE) }, () => databaseConfig(env))
  const databaseRefused = problems.length > before
  const database = databaseSetting.kind === 'sqlite' ? databaseSetting.path : resolve(DEFAULT_DATABASE)
  const defaultContent = resolve(read(env, 'CONTENT_DIR') ?? 'content')
  const beforeStorage = problems.length
  const storage = take<StorageConfig>({ kind: 'folder', dir: defaultContent, variable: 'CONTENT_DIR' }, () => storageConfig(env, defaultContent))
  const storageRefused = problems.length > beforeStorage
  // The folder a file store keeps its files in (STORAGE_URL=file:... names it too).
  const contentDir = storage.kind === 'folder' ? storage.dir : defaultContent

  let sessionSecret = read(env, 'SESSION_SECRET')
  if (sessionSecret !== undefined && sessionSecret.length < 32) {
    refuse('SESSION_SECRET', `must be at least 32 characters, got ${sessionSecret.length}`)
  } else if (sessionSecret === undefined && production) {
    refuse('SESSION_SECRET', 'is required in production (at least 32 random characters)')
  } else if (sessionSecret === undefined && !databaseRefused && options.demoSecret !== false) {
    sessionSecret = demoSessionSecret(database === ':memory:' ? resolve(DEFAULT_DATABASE) : database)
  }

  const beforeProvider = problems.length
  const provider = take<PaymentProviderName>('stripe', () => paymentProvider(env))
  const providerRefused = problems.length > beforeProvider
  const currency = (read(env, 'STORE_CURRENCY') ?? 'usd').toLowerCase()
  if (!providerRefused && provider === 'stripe' && !isSupportedCurrency(currency)) refuse('STORE_CURRENCY', `must be an ISO currency code Stripe can charge in (usd, eur, jpy, ...), got "${currency}"`)
  if (!providerRefused && provider === 'mollie' && !isMollieCurrency(currency)) refuse('STORE_CURRENCY', `must be a currency Mollie can charge in (eur, usd, gbp, ...), got "${currency}"`)
  // Only a local stand-in with a self-signed certificate needs this; a live store never may.
  if (production && read(env, 'NODE_TLS_REJECT_UNAUTHORIZED') === '0') {
    refuse('NODE_TLS_REJECT_UNAUTHORIZED', 'must not be 0 in production: it turns off certificate checks for Stripe, Mollie, SMTP and OAuth')
  }

  const emailSignIn = take(true, () => flag(env, 'EMAIL_SIGN_IN', true))
  const config: Config = {
    port,
    host,
    publicUrl,
    production,
    databasePath: database,
    database: databaseSetting,
    contentDir,
    sessionSecret: sessionSecret ?? '',
    paymentProvider: provider,
    // A refused PAYMENT_PROVIDER says nothing about which keys are needed: those wait for it.
    stripe: providerRefused ? null : take(null, () => stripeConfig(env, production && provider === 'stripe')),
    mollie: providerRefused ? null : take(null, () => mollieConfig(env, production && provider === 'mollie')),
    currency,
    // Production needs a way in: a provider, or email sign-in (on by default once mail is set up).
    oauth: take(null, () => oauthConfig(env, production && !(emailSignIn && read(env, 'SMTP_URL') !== undefined))),
    adminEmails: take([], () => adminEmails(env)),
    maxUploadBytes: take(100, () => integer(env, 'MAX_UPLOAD_MB', 100, 1, 10_000)) * 1024 * 1024,
    rateLimitPerMinute: take(60, () => integer(env, 'RATE_LIMIT_PER_MINUTE', 60, 0, 1_000_000)),
    logLevel,
    trustProxy: take(false, () => trustProxy(env)),
    sessionDays: take(30, () => integer(env, 'SESSION_DAYS', 30, 1, 3650)),
    guestCheckout: take(true, () => flag(env, 'GUEST_CHECKOUT', true)),
    smtpUrl: take(null, () => smtpUrl(env)),
    mailFrom: take(null, () => mailFrom(env)),
    downloadLinkDays: take(7, () => integer(env, 'DOWNLOAD_LINK_DAYS', 7, 1, 365)),
    downloadLimit: take(0, () => integer(env, 'DOWNLOAD_LIMIT', 0, 0, 1_000_000)),
    storage,
    // Checked against the storage only when that was accepted: else the refusal would be a guess.
    downloadOffload: storageRefused ? 'none' : take<DownloadOffload>('none', () => downloadOffload(env, storage)),
    xAccelPrefix: take('/protected/', () => xAccelPrefix(env)),
    metricsToken: take(null, () => metricsToken(env)),
    emailSignIn,
    bulkMailPerMinute: take(60, () => integer(env, 'MAIL_PER_MINUTE', 60, 1, 100_000)),
    dkim: take(null, () => dkimConfig(env))
  }
  return { config, problems }
}

/**
 * Turns the environment into a typed config, or throws one ConfigError listing every refused
 * setting (`problems`, one per line in its message), each naming its variable.
 */
export function loadConfig (env: Env = process.env): Config {
  const { config, problems } = readConfig(env)
  if (problems.length > 0) throw ConfigError.of(problems)
  return config
}

/** Time for the largest upload at a slow 100 KB/s, at least 2 minutes. */
export function uploadAllowanceMs (config: Config): number {
  return Math.max(120_000, Math.ceil(config.maxUploadBytes / (100 * 1024)) * 1000)
}

/** Demo mode: a stand-in runs for whatever of the payment provider and OAuth is not configured. */
export function isDemo (config: Config): boolean {
  const payments = config.paymentProvider === 'mollie' ? config.mollie : config.stripe
  return !config.production && (payments === null || config.oauth === null)
}
