import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { normalizeEmail } from './lib/email.js'
import { isMollieCurrency, isSupportedCurrency } from './lib/money.js'

export type OAuthProvider = 'github' | 'google' | 'oidc'

export interface StripeConfig {
  secretKey: string
  webhookSecret: string
  /** Base URL of a Stripe-compatible API (stripe-mock, the demo emulator); undefined = Stripe itself. */
  apiUrl?: string
}

export type PaymentProviderName = 'stripe' | 'mollie'

export interface MollieConfig {
  apiKey: string
  /** Base URL of a Mollie-compatible API (the demo emulator, a test fake): https only; undefined = Mollie itself. */
  apiUrl?: string
  /** Where the stand-in's hosted payment page is (demo mode): the CSP must let the Buy form go there. */
  checkoutOrigin?: string
}

export interface OAuthConfig {
  provider: OAuthProvider
  clientId: string
  clientSecret: string
  /** Required for `oidc`. */
  issuer?: string
  /**
   * Where `github` and `google` are reached; unset means the real GitHub and Google. No variable
   * sets it (the env contract is fixed): tests put it on the config to run that code against fakes.
   */
  endpoints?: OAuthEndpoints
}

export interface OAuthEndpoints {
  authorizeHost: string
  tokenHost: string
  authorizePath?: string
  tokenPath?: string
  /** GitHub: base of the REST API (`/user`, `/user/emails`). */
  apiBaseUrl?: string
  /** Google: the userinfo endpoint. */
  userinfoUrl?: string
}

/** Where the state lives: a SQLite file (the default), or a PostgreSQL database shared by several instances. */
export type DatabaseConfig =
  | { kind: 'sqlite', path: string }
  | {
    kind: 'postgres'
    /** As given, password included: for the pg client only. */
    url: string
    /** The same without password and parameters, for logs and messages. */
    display: string
  }

export interface Config {
  port: number
  host: string
  publicUrl: string
  production: boolean
  /** The SQLite file; with PostgreSQL, the default path (its folder keeps demo mode's session secret). */
  databasePath: string
  database: DatabaseConfig
  contentDir: string
  sessionSecret: string
  /** Who takes the money: Stripe Checkout, or Mollie's hosted payment page. */
  paymentProvider: PaymentProviderName
  /** null when not configured (in development the demo Stripe emulator stands in when it is the provider). */
  stripe: StripeConfig | null
  /** null when not configured (in development the demo Mollie emulator stands in when it is the provider). */
  mollie: MollieConfig | null
  currency: string
  /** null in development when not configured: the demo identity provider stands in. */
  oauth: OAuthConfig | null
  adminEmails: string[]
  maxUploadBytes: number
  rateLimitPerMinute: number
  logLevel: string
  /** Fastify's trustProxy: only a trusted proxy's X-Forwarded-For decides the client address. */
  trustProxy: boolean | number | string[]
  /** Absolute lifetime of a sign-in, from the sign-in itself. */
  sessionDays: number
  /** A signed-out visitor can buy; Stripe collects the email. */
  guestCheckout: boolean
  /** smtp:// or smtps:// URL of the mail relay for receipts; null: receipts off (demo mode starts its own). */
  smtpUrl: string | null
  /** Sender of receipts; by default the store's name at no-reply@ the host of PUBLIC_URL. */
  mailFrom: string | null
  /** Lifetime of an emailed download link. */
  downloadLinkDays: number
  /** Downloads per purchase (all Range requests of one download count once); 0 = unlimited. */
  downloadLimit: number
  /** Where stored files live (STORAGE_URL): the content folder, or an S3-compatible bucket. */
  storage: StorageConfig
  /** Who sends a download's bytes (DOWNLOAD_OFFLOAD): the app, the object store, or nginx. */
  downloadOffload: DownloadOffload
  /** X_ACCEL_PREFIX: nginx's `internal` location that serves the content folder. */
  xAccelPrefix: string
}

export type StorageConfig =
  /** `variable` is what a person would fix: CONTENT_DIR, or STORAGE_URL when it names the folder. */
  | { kind: 'folder', dir: string, variable: 'CONTENT_DIR' | 'STORAGE_URL' }
  | S3Config

export interface S3Config {
  kind: 's3'
  bucket: string
  /** Without slashes at either end; '' = the whole bucket. */
  prefix: string
  /** S3_ENDPOINT: an S3-compatible server (MinIO, s3rver); undefined = AWS itself. */
  endpoint?: string
  region: string
  forcePathStyle: boolean
  /** Both AWS_ variables, or undefined: the SDK's default chain (instance role, ~/.aws, ...). */
  credentials?: { accessKeyId: string, secretAccessKey: string }
}

export type DownloadOffload = 'none' | 'redirect' | 'x-accel'

/** The config the app runs with: in demo mode the stand-ins have filled in Stripe and OAuth. */
export interface AppConfig extends Config {
  oauth: OAuthConfig
  /** Set in demo mode: where the stand-ins can be reached by a person. */
  demo: { paymentsDashboardUrl: string | null, paymentHint: string, mailUrl: string | null } | null
}

export class ConfigError extends Error {
  constructor (readonly variable: string, problem: string) {
    super(`${variable}: ${problem}`)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

const NODE_ENVS = ['production', 'development', 'test']
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const DEFAULT_DATABASE = 'data/marketplace.db'

function read (env: Env, name: string): string | undefined {
  const value = env[name]?.trim()
  return value === '' ? undefined : value
}

function integer (env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = read(env, name)
  if (raw === undefined) return fallback
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`)
  const value = Number(raw)
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`)
  return value
}

function url (name: string, raw: string): string {
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    throw new ConfigError(name, `must be an absolute http(s) URL, got "${raw}"`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(name, `must be an http(s) URL, got "${raw}"`)
  }
  return parsed.href.replace(/\/+$/, '')
}

function paymentProvider (env: Env): PaymentProviderName {
  const raw = read(env, 'PAYMENT_PROVIDER') ?? 'stripe'
  if (raw !== 'stripe' && raw !== 'mollie') throw new ConfigError('PAYMENT_PROVIDER', `must be stripe or mollie, got "${raw}"`)
  return raw
}

function mollieConfig (env: Env, required: boolean): MollieConfig | null {
  const apiKey = read(env, 'MOLLIE_API_KEY')
  const rawApiUrl = read(env, 'MOLLIE_API_URL')
  if (apiKey === undefined) {
    if (required) throw new ConfigError('MOLLIE_API_KEY', 'is required in production with PAYMENT_PROVIDER=mollie')
    if (rawApiUrl !== undefined) throw new ConfigError('MOLLIE_API_KEY', 'is required when MOLLIE_API_URL is set')
    return null
  }
  if (!/^(test|live)_[A-Za-z0-9]{20,}$/.test(apiKey)) throw new ConfigError('MOLLIE_API_KEY', 'must look like test_... or live_... (the API key from Mollie\'s dashboard)')
  if (rawApiUrl === undefined) return { apiKey }
  const apiUrl = url('MOLLIE_API_URL', rawApiUrl)
  // The official client speaks only https.
  if (!apiUrl.startsWith('https:')) throw new ConfigError('MOLLIE_API_URL', `must be an https URL (the Mollie client speaks only https), got "${rawApiUrl}"`)
  return { apiKey, apiUrl: `${apiUrl}/` }
}

function stripeConfig (env: Env, production: boolean): StripeConfig | null {
  const secretKey = read(env, 'STRIPE_SECRET_KEY')
  const webhookSecret = read(env, 'STRIPE_WEBHOOK_SECRET')
  const rawApiUrl = read(env, 'STRIPE_API_URL')
  if (secretKey === undefined && webhookSecret === undefined) {
    if (production) throw new ConfigError('STRIPE_SECRET_KEY', 'is required in production')
    return null
  }
  if (secretKey === undefined) throw new ConfigError('STRIPE_SECRET_KEY', 'is required when STRIPE_WEBHOOK_SECRET is set')
  if (!/^(sk|rk)_(test|live)_\w+$/.test(secretKey)) {
    throw new ConfigError('STRIPE_SECRET_KEY', 'must look like sk_test_... or sk_live_...')
  }
  if (webhookSecret === undefined) throw new ConfigError('STRIPE_WEBHOOK_SECRET', 'is required when STRIPE_SECRET_KEY is set')
  if (!webhookSecret.startsWith('whsec_')) throw new ConfigError('STRIPE_WEBHOOK_SECRET', 'must start with whsec_')
  return {
    secretKey,
    webhookSecret,
    apiUrl: rawApiUrl === undefined ? undefined : url('STRIPE_API_URL', rawApiUrl)
  }
}

function oauthConfig (env: Env, production: boolean): OAuthConfig | null {
  const provider = read(env, 'OAUTH_PROVIDER')
  if (provider === undefined) {
    if (production) throw new ConfigError('OAUTH_PROVIDER', 'is required in production (github, google or oidc)')
    return null
  }
  if (provider !== 'github' && provider !== 'google' && provider !== 'oidc') {
    throw new ConfigError('OAUTH_PROVIDER', `must be github, google or oidc, got "${provider}"`)
  }
  const clientId = read(env, 'OAUTH_CLIENT_ID')
  if (clientId === undefined) throw new ConfigError('OAUTH_CLIENT_ID', `is required with OAUTH_PROVIDER=${provider}`)
  const clientSecret = read(env, 'OAUTH_CLIENT_SECRET')
  if (clientSecret === undefined) throw new ConfigError('OAUTH_CLIENT_SECRET', `is required with OAUTH_PROVIDER=${provider}`)
  const rawIssuer = read(env, 'OIDC_ISSUER')
  if (provider === 'oidc' && rawIssuer === undefined) throw new ConfigError('OIDC_ISSUER', 'is required with OAUTH_PROVIDER=oidc')
  return {
    provider,
    clientId,
    clientSecret,
    issuer: rawIssuer === undefined ? undefined : url('OIDC_ISSUER', rawIssuer)
  }
}

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

/**
 * The SQLite file. Only the default folder is created: a mistyped path must not quietly start a
 * second, empty store (which once swept a live store's files).
 */
function databasePath (env: Env): string {
  const raw = read(env, 'DATABASE_URL')
  if (raw === ':memory:') return raw
  const path = resolve((raw ?? DEFAULT_DATABASE).replace(/^sqlite:(\/\/)?/, ''))
  if (raw === undefined || path === resolve(DEFAULT_DATABASE)) return path
  const parent = dirname(path)
  if (!existsSync(parent) || !statSync(parent).isDirectory()) {
    throw new ConfigError('DATABASE_URL', `the folder ${parent} does not exist; create it first or fix the path`)
  }
  return path
}

const POSTGRES_SHAPE = 'postgres://user:password@host:5432/database (percent-encode @, / and : in the password)'

/**
 * `postgres://` or `postgresql://` selects PostgreSQL, anything else is a SQLite path. The URL
 * is never repeated in a message: it holds the password.
 */
function databaseConfig (env: Env): DatabaseConfig {
  const raw = read(env, 'DATABASE_URL')
  if (raw !== undefined && /^postgres(ql)?:/i.test(raw)) return postgresConfig(raw)
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw ?? '')?.[1]
  if (scheme !== undefined && scheme.toLowerCase() !== 'sqlite') {
    throw new ConfigError('DATABASE_URL', `must be a SQLite file path or ${POSTGRES_SHAPE}, got a ${scheme}:// URL`)
  }
  return { kind: 'sqlite', path: databasePath(env) }
}

function postgresConfig (raw: string): DatabaseConfig {
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    throw new ConfigError('DATABASE_URL', `is not a URL pg can read; it must look like ${POSTGRES_SHAPE}`)
  }
  // A Unix socket is named by ?host=/run/postgresql with the host part left empty.
  if (parsed.hostname === '' && parsed.searchParams.get('host') === null) {
    throw new ConfigError('DATABASE_URL', `names no host; it must look like ${POSTGRES_SHAPE}`)
  }
  if (parsed.pathname.slice(1).includes('/')) {
    throw new ConfigError('DATABASE_URL', `has more than a database name after the host; it must look like ${POSTGRES_SHAPE}`)
  }
  const user = parsed.username === '' ? '' : `${parsed.username}@`
  return { kind: 'postgres', url: raw, display: `${parsed.protocol}//${user}${parsed.host}${parsed.pathname}` }
}

/** `1` or `0` (also true/false); anything else names the variable. */
function flag (env: Env, name: string, fallback: boolean): boolean {
  const raw = read(env, name)
  if (raw === undefined) return fallback
  if (raw === '1' || raw === 'true') return true
  if (raw === '0' || raw === 'false') return false
  throw new ConfigError(name, `must be 1 or 0, got "${raw}"`)
}

function smtpUrl (env: Env): string | null {
  const raw = read(env, 'SMTP_URL')
  if (raw === undefined) return null
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    throw new ConfigError('SMTP_URL', 'must look like smtp://user:pass@host:port or smtps://user:pass@host:port')
  }
  // The URL may hold a password: never repeat it in the message.
  if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') throw new ConfigError('SMTP_URL', `must start with smtp:// or smtps://, got ${parsed.protocol}//`)
  if (parsed.hostname === '') throw new ConfigError('SMTP_URL', 'names no host')
  return raw
}

function mailFrom (env: Env): string | null {
  const raw = read(env, 'MAIL_FROM')
  if (raw === undefined) return null
  // "Name <address>" or a bare address; no line breaks (header injection).
  if (/[\r\n]/.test(raw) || !/^(?:[^<>@]*<[^<>@\s]+@[^<>@\s]+>|[^<>@\s]+@[^<>@\s]+)$/.test(raw)) {
    throw new ConfigError('MAIL_FROM', `must be an address or "Name <address>", got "${raw}"`)
  }
  return raw
}

/** STORAGE_URL: `file:<dir>` or `s3://<bucket>[/<prefix>]`; by default the CONTENT_DIR folder. */
function storageConfig (env: Env, contentDir: string): StorageConfig {
  const raw = read(env, 'STORAGE_URL')
  const s3Only = ['S3_ENDPOINT', 'S3_REGION', 'S3_FORCE_PATH_STYLE'].find((name) => read(env, name) !== undefined)
  if (raw === undefined || raw.startsWith('file:')) {
    // An S3 setting without an s3:// store is a STORAGE_URL left out: starting on the local folder
    // would open a second, empty store.
    if (s3Only !== undefined) throw new ConfigError(s3Only, 'is set, but STORAGE_URL is not an s3:// URL')
    if (raw === undefined) return { kind: 'folder', dir: contentDir, variable: 'CONTENT_DIR' }
    const path = raw.replace(/^file:(\/\/)?/, '')
    if (path === '') throw new ConfigError('STORAGE_URL', 'file: names no folder (file:/srv/content, file:content)')
    const dir = resolve(path)
    if (read(env, 'CONTENT_DIR') !== undefined && dir !== contentDir) {
      throw new ConfigError('STORAGE_URL', `names the folder ${dir}, but CONTENT_DIR names ${contentDir}: set one of them`)
    }
    return { kind: 'folder', dir, variable: 'STORAGE_URL' }
  }
  // Credentials belong in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: never repeat such a URL.
  if (raw.includes('@')) throw new ConfigError('STORAGE_URL', 'must not hold credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead')
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(raw)
  if (match === null) throw new ConfigError('STORAGE_URL', `must be file:<folder> or s3://<bucket>[/<prefix>], got "${raw}"`)
  const bucket = match[1]!
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new ConfigError('STORAGE_URL', `"${bucket}" is not a bucket name (3 to 63 lower-case letters, digits, dots and hyphens)`)
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '')
  const segments = prefix === '' ? [] : prefix.split('/')
  // Dot-named keys are the store's own (.store-id, .quarantine/): a prefix must not be one.
  if (segments.some((segment) => segment === '' || segment.startsWith('.') || !/^[\w.~-]+$/.test(segment))) {
    throw new ConfigError('STORAGE_URL', `the prefix "${prefix}" must be path segments of letters, digits, -, _, ~ and . (none empty or starting with a dot)`)
  }
  const rawEndpoint = read(env, 'S3_ENDPOINT')
  const region = read(env, 'S3_REGION') ?? 'us-east-1'
  if (!/^[a-z]{2}(-[a-z0-9]+)+$|^auto$/.test(region)) throw new ConfigError('S3_REGION', `must be a region name such as us-east-1, got "${region}"`)
  return {
    kind: 's3',
    bucket,
    prefix,
    endpoint: rawEndpoint === undefined ? undefined : url('S3_ENDPOINT', rawEndpoint),
    region,
    forcePathStyle: flag(env, 'S3_FORCE_PATH_STYLE', false),
    credentials: awsCredentials(env)
  }
}

/** Both or neither: the SDK's default chain looks elsewhere only when neither is set. Never echoed. */
function awsCredentials (env: Env): S3Config['credentials'] {
  const accessKeyId = read(env, 'AWS_ACCESS_KEY_ID')
  const secretAccessKey = read(env, 'AWS_SECRET_ACCESS_KEY')
  if (accessKeyId === undefined && secretAccessKey === undefined) return undefined
  if (accessKeyId === undefined) throw new ConfigError('AWS_ACCESS_KEY_ID', 'is required when AWS_SECRET_ACCESS_KEY is set')
  if (secretAccessKey === undefined) throw new ConfigError('AWS_SECRET_ACCESS_KEY', 'is required when AWS_ACCESS_KEY_ID is set')
  if (!/^[\x21-\x7e]{3,128}$/.test(accessKeyId)) throw new ConfigError('AWS_ACCESS_KEY_ID', 'must be 3 to 128 printable characters without spaces')
  if (!/^[\x21-\x7e]{3,128}$/.test(secretAccessKey)) throw new ConfigError('AWS_SECRET_ACCESS_KEY', 'must be 3 to 128 printable characters without spaces')
  return { accessKeyId, secretAccessKey }
}

/** DOWNLOAD_OFFLOAD, checked against the storage it needs. */
function downloadOffload (env: Env, storage: StorageConfig): DownloadOffload {
  const raw = read(env, 'DOWNLOAD_OFFLOAD') ?? 'none'
  if (raw !== 'none' && raw !== 'redirect' && raw !== 'x-accel') throw new ConfigError('DOWNLOAD_OFFLOAD', `must be none, redirect or x-accel, got "${raw}"`)
  if (raw === 'redirect' && storage.kind !== 's3') throw new ConfigError('DOWNLOAD_OFFLOAD', 'redirect needs an object store (STORAGE_URL=s3://...); nginx offloads a folder with x-accel')
  if (raw === 'x-accel' && storage.kind !== 'folder') throw new ConfigError('DOWNLOAD_OFFLOAD', 'x-accel needs a content folder behind nginx; an object store offloads with redirect')
  return raw
}

/** X_ACCEL_PREFIX: a location path, `/` at both ends, to which nginx maps the content folder. */
function xAccelPrefix (env: Env): string {
  const raw = read(env, 'X_ACCEL_PREFIX') ?? '/protected/'
  if (!/^\/([\w.~-]+\/)+$/.test(raw)) throw new ConfigError('X_ACCEL_PREFIX', `must be a path such as /protected/ (starting and ending with /), got "${raw}"`)
  return raw
}

/** Turns the environment into a typed config, or throws a ConfigError naming the variable. */
export function loadConfig (env: Env = process.env): Config {
  const nodeEnv = read(env, 'NODE_ENV')
  // A typo such as NODE_ENV=prod must never quietly mean demo mode.
  if (nodeEnv !== undefined && !NODE_ENVS.includes(nodeEnv)) {
    throw new ConfigError('NODE_ENV', `must be production, development, test or unset, got "${nodeEnv}"`)
  }
  const production = nodeEnv === 'production'
  const logLevel = read(env, 'LOG_LEVEL') ?? 'info'
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`)

  const port = integer(env, 'PORT', 3000, 0, 65535)
  const host = read(env, 'HOST') ?? '127.0.0.1'
  const rawPublicUrl = read(env, 'PUBLIC_URL')
  if (rawPublicUrl === undefined && production) throw new ConfigError('PUBLIC_URL', 'is required in production')
  const publicUrl = url('PUBLIC_URL', rawPublicUrl ?? `http://localhost:${port}`)

  const databaseSetting = databaseConfig(env)
  const database = databaseSetting.kind === 'sqlite' ? databaseSetting.path : resolve(DEFAULT_DATABASE)
  const storage = storageConfig(env, resolve(read(env, 'CONTENT_DIR') ?? 'content'))
  // The folder a file store keeps its files in (STORAGE_URL=file:... names it too).
  const contentDir = storage.kind === 'folder' ? storage.dir : resolve(read(env, 'CONTENT_DIR') ?? 'content')

  let sessionSecret = read(env, 'SESSION_SECRET')
  if (sessionSecret !== undefined && sessionSecret.length < 32) {
    throw new ConfigError('SESSION_SECRET', `must be at least 32 characters, got ${sessionSecret.length}`)
  }
  if (sessionSecret === undefined) {
    if (production) throw new ConfigError('SESSION_SECRET', 'is required in production (at least 32 random characters)')
    sessionSecret = demoSessionSecret(database === ':memory:' ? resolve(DEFAULT_DATABASE) : database)
  }

  const provider = paymentProvider(env)
  const currency = (read(env, 'STORE_CURRENCY') ?? 'usd').toLowerCase()
  if (provider === 'stripe' && !isSupportedCurrency(currency)) throw new ConfigError('STORE_CURRENCY', `must be an ISO currency code Stripe can charge in (usd, eur, jpy, ...), got "${currency}"`)
  if (provider === 'mollie' && !isMollieCurrency(currency)) throw new ConfigError('STORE_CURRENCY', `must be a currency Mollie can charge in (eur, usd, gbp, ...), got "${currency}"`)
  // Only a local stand-in with a self-signed certificate needs this; a live store never may.
  if (production && read(env, 'NODE_TLS_REJECT_UNAUTHORIZED') === '0') {
    throw new ConfigError('NODE_TLS_REJECT_UNAUTHORIZED', 'must not be 0 in production: it turns off certificate checks for Stripe, Mollie, SMTP and OAuth')
  }

  const adminEmails = (read(env, 'ADMIN_EMAILS') ?? '')
    .split(',').map((email) => normalizeEmail(email.trim())).filter((email) => email !== '')
  for (const email of adminEmails) {
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw new ConfigError('ADMIN_EMAILS', `"${email}" is not an email address`)
  }

  return {
    port,
    host,
    publicUrl,
    production,
    databasePath: database,
    database: databaseSetting,
    contentDir,
    sessionSecret,
    paymentProvider: provider,
    stripe: stripeConfig(env, production && provider === 'stripe'),
    mollie: mollieConfig(env, production && provider === 'mollie'),
    currency,
    oauth: oauthConfig(env, production),
    adminEmails,
    maxUploadBytes: integer(env, 'MAX_UPLOAD_MB', 100, 1, 10_000) * 1024 * 1024,
    rateLimitPerMinute: integer(env, 'RATE_LIMIT_PER_MINUTE', 60, 0, 1_000_000),
    logLevel,
    trustProxy: trustProxy(env),
    sessionDays: integer(env, 'SESSION_DAYS', 30, 1, 3650),
    guestCheckout: flag(env, 'GUEST_CHECKOUT', true),
    smtpUrl: smtpUrl(env),
    mailFrom: mailFrom(env),
    downloadLinkDays: integer(env, 'DOWNLOAD_LINK_DAYS', 7, 1, 365),
    downloadLimit: integer(env, 'DOWNLOAD_LIMIT', 0, 0, 1_000_000),
    storage,
    downloadOffload: downloadOffload(env, storage),
    xAccelPrefix: xAccelPrefix(env)
  }
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
