import { createPrivateKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { ConfigError, type DkimConfig, type MollieConfig, type OAuthConfig, type PaymentProviderName, type StripeConfig } from './types.js'
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

/** `required`: production without email sign-in (no SMTP_URL, or EMAIL_SIGN_IN=0) has no other way in. */
export function oauthConfig (env: Env, required: boolean): OAuthConfig | null {
  const provider = read(env, 'OAUTH_PROVIDER')
  if (provider === undefined) {
    if (required) throw new ConfigError('OAUTH_PROVIDER', 'is required in production (github, google or oidc) unless email sign-in is on (SMTP_URL set, EMAIL_SIGN_IN not 0)')
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

/**
 * DKIM signing: DKIM_DOMAIN, DKIM_SELECTOR and a private key (DKIM_PRIVATE_KEY, PEM with real or
 * `\n` line breaks, or DKIM_PRIVATE_KEY_FILE naming a PEM file), all or none. The key is parsed
 * here so a bad one stops the start with its variable named; it is never echoed.
 */
export function dkimConfig (env: Env): DkimConfig | null {
  const domainName = read(env, 'DKIM_DOMAIN')
  const keySelector = read(env, 'DKIM_SELECTOR')
  const inline = read(env, 'DKIM_PRIVATE_KEY')
  const file = read(env, 'DKIM_PRIVATE_KEY_FILE')
  if (domainName === undefined && keySelector === undefined && inline === undefined && file === undefined) return null
  if (domainName === undefined) throw new ConfigError('DKIM_DOMAIN', 'is required with the other DKIM_ settings (the domain the mail is signed for, e.g. example.com)')
  if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i.test(domainName)) throw new ConfigError('DKIM_DOMAIN', `must be a domain name such as example.com, got "${domainName}"`)
  if (keySelector === undefined) throw new ConfigError('DKIM_SELECTOR', 'is required with DKIM_DOMAIN (the selector of the DNS record <selector>._domainkey.<domain>)')
  if (!/^[a-z0-9]([a-z0-9._-]{0,62})$/i.test(keySelector)) throw new ConfigError('DKIM_SELECTOR', `must be letters, digits, dots, - and _, got "${keySelector}"`)
  if (inline !== undefined && file !== undefined) throw new ConfigError('DKIM_PRIVATE_KEY', 'set DKIM_PRIVATE_KEY or DKIM_PRIVATE_KEY_FILE, not both')
  const variable = file !== undefined ? 'DKIM_PRIVATE_KEY_FILE' : 'DKIM_PRIVATE_KEY'
  let privateKey: string
  if (file !== undefined) {
    try {
      privateKey = readFileSync(file, 'utf8')
    } catch (error) {
      throw new ConfigError(variable, `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}): ${file}`)
    }
  } else if (inline !== undefined) {
    privateKey = inline.replace(/\\n/g, '\n')
  } else {
    throw new ConfigError('DKIM_PRIVATE_KEY', 'is required with DKIM_DOMAIN (or DKIM_PRIVATE_KEY_FILE naming a PEM file)')
  }
  try {
    const key = createPrivateKey(privateKey)
    if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'ed25519') throw new Error('not RSA or Ed25519')
  } catch {
    throw new ConfigError(variable, 'is not a PEM private key (RSA or Ed25519), e.g. from `openssl genrsa 2048`')
  }
  return { domainName: domainName.toLowerCase(), keySelector, privateKey }
}
