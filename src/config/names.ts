import { type Env } from './read.js'

// The variables the app reads, and the warning for a name that looks like one of them but is
// not (STRIPE_SECRET, STORE_CURENCY): such a name is otherwise silently ignored.

export const SETTINGS = [
  'PORT', 'HOST', 'PUBLIC_URL', 'NODE_ENV', 'DATABASE_URL', 'CONTENT_DIR', 'SESSION_SECRET',
  'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'STRIPE_API_URL', 'STORE_CURRENCY',
  'OAUTH_PROVIDER', 'OAUTH_CLIENT_ID', 'OAUTH_CLIENT_SECRET', 'OIDC_ISSUER', 'ADMIN_EMAILS',
  'MAX_UPLOAD_MB', 'RATE_LIMIT_PER_MINUTE', 'LOG_LEVEL', 'TRUST_PROXY', 'SESSION_DAYS', 'SMTP_URL',
  'MAIL_FROM', 'GUEST_CHECKOUT', 'DOWNLOAD_LINK_DAYS', 'DOWNLOAD_LIMIT', 'STORAGE_URL', 'S3_ENDPOINT',
  'S3_REGION', 'S3_FORCE_PATH_STYLE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'DOWNLOAD_OFFLOAD',
  'X_ACCEL_PREFIX', 'PAYMENT_PROVIDER', 'MOLLIE_API_KEY', 'MOLLIE_API_URL', 'NODE_TLS_REJECT_UNAUTHORIZED',
  'METRICS_TOKEN', 'EMAIL_SIGN_IN', 'MAIL_PER_MINUTE', 'DKIM_DOMAIN', 'DKIM_SELECTOR', 'DKIM_PRIVATE_KEY',
  'DKIM_PRIVATE_KEY_FILE',
  // Read outside src/config: the shutdown grace period and the page cache switch.
  'SHUTDOWN_GRACE_MS', 'VIEW_CACHE'
] as const

/**
 * Prefixes only our settings use. AWS_ is left out (the AWS SDK reads many AWS_ variables of its
 * own), as are NODE_ and the one-word settings; a near-miss still catches those.
 */
const PREFIXES = ['STRIPE_', 'MOLLIE_', 'OAUTH_', 'OIDC_', 'S3_', 'SMTP_', 'STORE_', 'STORAGE_', 'DOWNLOAD_', 'SESSION_', 'MAIL_', 'PAYMENT_', 'PUBLIC_', 'DATABASE_', 'ADMIN_', 'GUEST_', 'RATE_LIMIT_', 'MAX_UPLOAD_', 'X_ACCEL_', 'TRUST_', 'CONTENT_', 'METRICS_', 'EMAIL_', 'DKIM_']

const KNOWN = new Set<string>(SETTINGS)

/** Levenshtein distance, bounded work for names (a few dozen characters). */
export function editDistance (a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}

/** The setting `name` was probably meant to be, when it is close enough to guess. */
function closest (name: string): string | undefined {
  // Short names get one edit (HOME is not HOST), longer ones two.
  const allowed = name.length <= 6 ? 1 : 2
  let best: { setting: string, distance: number } | undefined
  for (const setting of SETTINGS) {
    const distance = editDistance(name, setting)
    if (distance <= allowed && (best === undefined || distance < best.distance)) best = { setting, distance }
  }
  if (best !== undefined) return best.setting
  // A setting's name cut short or run on (STRIPE_SECRET for STRIPE_SECRET_KEY).
  // One-word settings are left out: HOSTNAME is the shell's, not a longer HOST.
  return SETTINGS.find((setting) => setting.includes('_') && name.includes('_') && (setting.startsWith(name) || name.startsWith(setting)))
}

/**
 * One line for each variable of `env` that looks like a setting and is not one: a near-miss of a
 * setting's name, or a name with one of our prefixes. `fromFile` names the variables .env set.
 */
export function lookalikeWarnings (env: Env, fromFile: ReadonlySet<string> = new Set()): string[] {
  const warnings: string[] = []
  for (const name of Object.keys(env).sort()) {
    if (KNOWN.has(name) || !/^[A-Z][A-Z0-9_]*$/.test(name)) continue
    const where = fromFile.has(name) ? ' (in .env)' : ''
    const guess = closest(name)
    if (guess !== undefined) {
      warnings.push(`${name}${where} is not a setting: did you mean ${guess}?`)
      continue
    }
    const prefix = PREFIXES.find((each) => name.startsWith(each))
    if (prefix !== undefined) {
      const family = SETTINGS.filter((setting) => setting.startsWith(prefix))
      warnings.push(`${name}${where} is not a setting and is ignored; the ${prefix} settings are ${family.join(', ')}`)
    }
  }
  return warnings
}
