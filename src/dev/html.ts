/**
 * The one HTML escaper of the dev stand-ins' pages: the identity provider calls it, and the
 * Stripe emulator's Eta templates use it as their escape function. It escapes the five
 * characters that matter in text and in quoted attribute values.
 */
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml (value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c])
}
