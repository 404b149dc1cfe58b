/**
 * How often Mollie's unsigned webhook may make us ask Mollie. Anyone can post `id=tr_...`, and
 * each post that reaches Mollie costs one API call of our key's allowance, so:
 *
 * - A payment of ours (an id stored on one of our orders) is looked up one notification at a
 *   time, at most once per PER_PAYMENT_MS. A notification arriving while it is being looked up,
 *   or within that time after, is answered 503 with Retry-After: Mollie sends it again later,
 *   and that lookup sees whatever changed, so no status change is ever dropped.
 * - An id that is none of our payments (another account's, a forged one, or one of ours whose
 *   checkout has not stored it yet) costs at most STRANGER_LOOKUPS per client per
 *   STRANGER_WINDOW_MS; the rest are answered 200 without a lookup.
 *
 * Counted in this process's memory, like the rate limits (src/http/plugins/rate-limit.ts):
 * several instances each allow these bounds.
 */

export const PER_PAYMENT_MS = 10_000
export const STRANGER_LOOKUPS = 30
export const STRANGER_WINDOW_MS = 60_000
/**
 * Clients tracked at once. An attacker with a fresh address per request cannot grow the map
 * beyond this: a client it has no room for gets no lookup (200), as one over its allowance.
 */
const MAX_CLIENTS = 10_000

/** What to do with one notification. */
export type Admission =
  /** Ask Mollie, then call done() once the notification is handled (success or not). */
  | { kind: 'lookup', done: () => void }
  /** A payment of ours looked up moments ago, or right now: 503, Retry-After these seconds. */
  | { kind: 'later', retryAfterSeconds: number }
  /** Not ours, and this client used its lookups: 200 without asking Mollie. */
  | { kind: 'skip' }

export interface MollieWebhookGateOptions {
  /** The id is a payment of one of our orders. */
  isOurs: (paymentId: string) => Promise<boolean>
  /** Milliseconds since the epoch (tests move it instead of waiting). */
  now?: () => number
}

export function createMollieWebhookGate (options: MollieWebhookGateOptions) {
  const { isOurs, now = Date.now } = options
  // Our payments by id: when their last lookup started, and whether it is still going. Kept in
  // order of that start (an entry is moved to the end when a lookup starts), so the expired ones
  // are at the front.
  const payments = new Map<string, { startedAt: number, running: boolean }>()
  // Clients by address: when their window started and how many lookups it made; same order.
  const clients = new Map<string, { startedAt: number, count: number }>()

  function forget (at: number): void {
    for (const [id, entry] of payments) {
      if (at - entry.startedAt < PER_PAYMENT_MS) break
      if (!entry.running) payments.delete(id)
    }
    for (const [client, entry] of clients) {
      if (at - entry.startedAt < STRANGER_WINDOW_MS) break
      clients.delete(client)
    }
  }

  /** Ours, and looked up now or within PER_PAYMENT_MS: how long until it may be again. */
  function busy (paymentId: string, at: number): Admission | undefined {
    const entry = payments.get(paymentId)
    if (entry === undefined) return undefined
    const left = entry.startedAt + PER_PAYMENT_MS - at
    if (!entry.running && left <= 0) return undefined
    return { kind: 'later', retryAfterSeconds: Math.max(1, Math.ceil(left / 1000)) }
  }

  return {
    /** Whether and how the notification for this payment id, from this client, is looked up. */
    async admit (paymentId: string, client: string): Promise<Admission> {
      forget(now())
      const early = busy(paymentId, now())
      if (early !== undefined) return early
      if (await isOurs(paymentId)) {
        // Checked again after the query: a notification that arrived meanwhile may have started.
        const at = now()
        const late = busy(paymentId, at)
        if (late !== undefined) return late
        const entry = { startedAt: at, running: true }
        payments.delete(paymentId)
        payments.set(paymentId, entry)
        return { kind: 'lookup', done: () => { entry.running = false } }
      }
      const at = now()
      let entry = clients.get(client)
      if (entry === undefined || at - entry.startedAt >= STRANGER_WINDOW_MS) {
        if (entry === undefined && clients.size >= MAX_CLIENTS) return { kind: 'skip' }
        entry = { startedAt: at, count: 0 }
        clients.delete(client)
        clients.set(client, entry)
      }
      if (entry.count >= STRANGER_LOOKUPS) return { kind: 'skip' }
      entry.count++
      return { kind: 'lookup', done: () => {} }
    }
  }
}

export type MollieWebhookGate = ReturnType<typeof createMollieWebhookGate>
