/**
 * An email address in the form it is compared in (and stored in for comparison): ASCII letters
 * lower-cased, every other character kept as it is. `toLowerCase()` (and PostgreSQL's `lower()`)
 * fold more than ASCII: U+212A KELVIN SIGN becomes `k`, so `\u212Aate@example.com` would match
 * `kate@example.com` in ADMIN_EMAILS, or claim kate's guest purchases. Callers trim first where
 * the address was typed.
 */
export function normalizeEmail (email: string): string {
  return email.replace(/[A-Z]+/g, (letters) => letters.toLowerCase())
}
