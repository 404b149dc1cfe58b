import { ConfigError, type MollieConfig, type OAuthConfig, type PaymentProviderName, type StripeConfig } from './types.js'
import { type Env, read, url } from './read.js'

// The outside services' settings: the payment provider, sign-in (OAuth) and mail.

export function paymentProvider (env: Env): PaymentProviderName {
  const raw = read(env, 'PAYMENT_PROVIDER') ?? 'stripe'
  if (raw !== 'stripe' && raw !== 'mollie') throw new ConfigError('PAYMENT_PROVIDER', `must be stripe or mollie, got "${raw}"`)
  return raw
}

export function mollieConfig (env: Env, required: boolean): MollieConfig | null {
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

export function stripeConfig (env: Env, production: boolean): StripeConfig | null {
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

export function oauthConfig (env: Env, production: boolean): OAuthConfig | null {
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

export function smtpUrl (env: Env): string | null {
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

export function mailFrom (env: Env): string | null {
  const raw = read(env, 'MAIL_FROM')
  if (raw === undefined) return null
  // "Name <address>" or a bare address; no line breaks (header injection).
  if (/[\r\n]/.test(raw) || !/^(?:[^<>@]*<[^<>@\s]+@[^<>@\s]+>|[^<>@\s]+@[^<>@\s]+)$/.test(raw)) {
    throw new ConfigError('MAIL_FROM', `must be an address or "Name <address>", got "${raw}"`)
  }
  return raw
}
