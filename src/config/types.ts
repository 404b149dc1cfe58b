// The config's types, and the error a refused setting raises (see src/config.ts).

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
  /** METRICS_TOKEN: the bearer token GET /metrics asks for; null = no /metrics (404). */
  metricsToken: string | null
  /**
   * EMAIL_SIGN_IN (default on): sign-in by a link sent by email. In force only with mail
   * (SMTP_URL, or demo mode's catcher): the app's AppConfig says whether it is.
   */
  emailSignIn: boolean
  /** MAIL_PER_MINUTE: how many mails to buyers (updates, messages) go out per minute, all instances together. */
  bulkMailPerMinute: number
  /** DKIM signing of every mail (DKIM_DOMAIN, DKIM_SELECTOR, DKIM_PRIVATE_KEY or DKIM_PRIVATE_KEY_FILE); null = unsigned. */
  dkim: DkimConfig | null
}

export interface DkimConfig {
  domainName: string
  keySelector: string
  /** The PEM private key (read from DKIM_PRIVATE_KEY_FILE when that names it). Never logged. */
  privateKey: string
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
  /** null: no provider (production with email sign-in alone). */
  oauth: OAuthConfig | null
  /** Set in demo mode: where the stand-ins can be reached by a person. */
  demo: { paymentsDashboardUrl: string | null, paymentHint: string, mailUrl: string | null } | null
}

export class ConfigError extends Error {
  /** Every problem found (this one alone, or each of a list): one line each, each naming its variable. */
  readonly problems: readonly ConfigError[]

  constructor (readonly variable: string, problem: string, problems?: readonly ConfigError[]) {
    super(problems === undefined ? `${variable}: ${problem}` : problems.map((each) => each.message).join('\n'))
    this.name = 'ConfigError'
    this.problems = problems ?? [this]
  }

  /** One error for all of `problems` (at least one): the first's variable, every message on its own line. */
  static of (problems: readonly ConfigError[]): ConfigError {
    if (problems.length === 1) return problems[0]!
    return new ConfigError(problems[0]!.variable, '', problems.flatMap((each) => each.problems))
  }
}
