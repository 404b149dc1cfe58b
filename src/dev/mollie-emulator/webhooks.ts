// Mollie's webhook: a POST to the payment's webhookUrl with the form body `id=tr_...`, no
// signature and nothing else; the receiver fetches the payment to learn what changed. A
// non-2xx answer (or none) is retried a bounded number of times.
import type { Lifetime } from '../stripe-emulator/lifetime.js'

export interface Delivery {
  paymentId: string
  url: string
  /** HTTP status, or 0 when no answer came (refused, timed out). */
  status: number
  /** 1-based attempt number for this notification. */
  attempt: number
}

export interface WebhookOptions {
  retryDelaysMs: number[]
  lifetime: Lifetime
  log: (msg: string) => void
}

export const DEFAULT_RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 16000, 32000]
// Mollie gives a webhook 15 seconds to answer.
const TIMEOUT_MS = 15_000

export class Webhooks {
  /** Every attempt, in order. */
  readonly deliveries: Delivery[] = []

  constructor (private readonly options: WebhookOptions) {}

  /**
   * Tells the webhook URL that the payment changed. Resolves after the first attempt, so a caller
   * (the checkout page, a test) sees the app's reaction; retries go on in the background.
   */
  async notify (url: string, paymentId: string): Promise<void> {
    await this.send(url, paymentId, 1)
  }

  private async send (url: string, paymentId: string, attempt: number): Promise<void> {
    const { lifetime, log, retryDelaysMs } = this.options
    if (lifetime.closed) return
    const status = await this.attempt(url, paymentId, attempt)
    if (status >= 200 && status < 300) return
    const delay = retryDelaysMs[attempt - 1]
    if (delay === undefined || lifetime.closed) {
      if (!lifetime.closed) log(`mollie-emulator: giving up on the webhook for ${paymentId} (last status ${status})`)
      return
    }
    log(`mollie-emulator: webhook for ${paymentId} got ${status}, retrying in ${delay}ms`)
    lifetime.schedule(delay, () => {
      this.send(url, paymentId, attempt + 1).catch((error: Error) => { log(`mollie-emulator: webhook for ${paymentId} failed: ${error.message}`) })
    })
  }

  private async attempt (url: string, paymentId: string, attempt: number): Promise<number> {
    const { lifetime, log } = this.options
    let status = 0
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'User-Agent': 'Mollie.nl HTTP client/1.0' },
        body: new URLSearchParams({ id: paymentId }).toString(),
        // A redirect is an answer other than 2xx, as for Mollie: not followed.
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(TIMEOUT_MS), lifetime.signal])
      })
      status = res.status
      // Drain so keep-alive sockets are released promptly.
      await res.arrayBuffer().catch(() => undefined)
    } catch (err) {
      if (!lifetime.closed) log(`mollie-emulator: webhook for ${paymentId} to ${url} failed: ${String(err)}`)
    }
    this.deliveries.push({ paymentId, url, status, attempt })
    return status
  }
}
