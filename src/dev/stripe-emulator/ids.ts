import { randomBytes } from 'node:crypto'

const ALPHANUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** An id shaped like Stripe's: a type prefix and random alphanumerics (`cs_test_…`, `evt_…`). */
export function randomId (prefix: string, length = 24): string {
  let out = prefix
  for (const b of randomBytes(length)) out += ALPHANUM[b % ALPHANUM.length]
  return out
}

/** Stripe's timestamps are whole seconds since the epoch. */
export const nowSec = (): number => Math.floor(Date.now() / 1000)
