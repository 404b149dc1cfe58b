// The app's variables in a test: the Stripe emulator and the OIDC provider it talks to, its
// database and content folder (or PostgreSQL + S3, see ./backend.ts).
import { join } from 'node:path'
import { backendEnv } from './backend.js'

export const WEBHOOK_SECRET = 'whsec_test_secret_for_the_suite'
export const PUBLIC_URL = 'http://127.0.0.1:3999'
export const ADMIN_EMAIL = 'admin@example.com'

/**
 * The variables of an app on the test folder `dir`: its SQLite file and content folder in it, or
 * (TEST_BACKEND=postgres-s3) the PostgreSQL database and S3 prefix build() provisioned for it.
 */
export function testEnv (dir: string, stripeUrl: string, issuer: string, env: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    PUBLIC_URL,
    DATABASE_URL: join(dir, 'marketplace.db'),
    CONTENT_DIR: join(dir, 'content'),
    SESSION_SECRET: 'a-test-session-secret-that-is-long-enough',
    STRIPE_SECRET_KEY: 'sk_test_suite',
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    STRIPE_API_URL: stripeUrl,
    OAUTH_PROVIDER: 'oidc',
    OAUTH_CLIENT_ID: 'test-client',
    OAUTH_CLIENT_SECRET: 'test-secret',
    OIDC_ISSUER: issuer,
    ADMIN_EMAILS: ADMIN_EMAIL,
    RATE_LIMIT_PER_MINUTE: '0',
    ...backendEnv(dir),
    ...env
  }
}
