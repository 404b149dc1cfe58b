import { createHmac } from 'node:crypto'
import { nowSec, randomId } from './ids.js'
import type { Lifetime } from './lifetime.js'

export interface StripeEvent {
  id: string
  object: 'event'
  api_version: string
  created: number
  livemode: false
  pending_webhooks: number
  request: { id: string | null, idempotency_key: string | null }
  type: string
  data: { object: Record<string, unknown> }
}

export interface Delivery {
  eventId: string
  type: string
  /** HTTP status, or 0 on a network error / timeout. */
  status: number
  /** 1-based attempt number for this event. */
  attempt: number
}

export interface WebhookOptions {
  secret: string
  /** Where events go; undefined (or a function answering undefined) records them only. */
  url: string | (() => string | undefined) | undefined
  retryDelaysMs: number[]
  lifetime: Lifetime
  log: (msg: string) => void
}

const API_VERSION = '2025-01-27.acacia'
export const DEFAULT_RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 16000, 32000]

/** Events as Stripe builds, signs and delivers them: at least once, retried on a non-2xx answer. */
export class Webhooks {
  /** Every event generated, whether or not a webhook URL was configured. */
  readonly events: StripeEvent[] = []
  readonly deliveries: Delivery[] = []

  constructor (private readonly options: WebhookOptions) {}

  buildEvent (type: string, object: Record<string, unknown>, id?: string): StripeEvent {
    return {
      id: id ?? randomId('evt_'),
      object: 'event',
      api_version: API_VERSION,
      created: nowSec(),
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
      // Snapshot, so later state changes don't rewrite history that tests inspect.
      data: { object: structuredClone(object) }
    }
  }

  /** A `Stripe-Signature` header value, as stripe.webhooks.constructEvent verifies it. */
  sign (payload: string, timestampSec = nowSec(), secret = this.options.secret): string {
    const sig = createHmac('sha256', secret).update(`${timestampSec}.${payload}`, 'utf8').digest('hex')
    return `t=${timestampSec},v1=${sig}`
  }

  /** One delivery attempt of an event, without retries: the status, 0 when no answer came. */
  async deliver (event: StripeEvent): Promise<number> {
    const target = this.target()
    if (target === undefined) throw new Error('stripe-emulator: no webhookUrl configured')
    return await this.attempt(event, target)
  }

  /**
   * Records the event and delivers it with retries. Resolves after the first attempt so callers
   * (tests, a payment) can observe the app's reaction, while retries continue in the background.
   */
  async emit (type: string, object: Record<string, unknown>): Promise<void> {
    const event = this.buildEvent(type, object)
    this.events.push(event)
    await this.send(event, 0)
  }

  private target (): string | undefined {
    const { url } = this.options
    return typeof url === 'function' ? url() : url
  }

  private async send (event: StripeEvent, retryIndex: number): Promise<void> {
    const { lifetime, log, retryDelaysMs } = this.options
    if (lifetime.closed) return
    const target = this.target()
    if (target === undefined) {
      log(`stripe-emulator: ${event.type} ${event.id} not delivered (no webhook URL)`)
      return
    }
    const status = await this.attempt(event, target)
    if (status >= 200 && status < 300) return
    const delay = retryDelaysMs[retryIndex]
    if (delay === undefined || lifetime.closed) {
      if (!lifetime.closed) log(`stripe-emulator: giving up on ${event.type} ${event.id} (last status ${status})`)
      return
    }
    log(`stripe-emulator: ${event.type} ${event.id} got ${status}, retrying in ${delay}ms`)
    lifetime.schedule(delay, () => { this.send(event, retryIndex + 1).catch((error: Error) => { log(`stripe-emulator: delivery of ${event.id} failed: ${error.message}`) }) })
  }

  private async attempt (event: StripeEvent, target: string): Promise<number> {
    // Stripe sends pretty-printed JSON; receivers must verify the raw bytes,
    // and this makes re-serialising the parsed body fail the signature check.
    const payload = JSON.stringify(event, null, 2)
    const attempt = this.deliveries.filter((d) => d.eventId === event.id).length + 1
    let status = 0
    try {
      const res = await fetch(target, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json; charset=utf-8',
          'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'Stripe-Signature': this.sign(payload)
        },
        body: payload,
        signal: AbortSignal.any([AbortSignal.timeout(10000), this.options.lifetime.signal])
      })
      status = res.status
      // Drain so keep-alive sockets are released promptly.
      await res.arrayBuffer().catch(() => undefined)
    } catch (err) {
      if (!this.options.lifetime.closed) this.options.log(`stripe-emulator: webhook ${event.type} ${event.id} failed: ${String(err)}`)
    }
    this.deliveries.push({ eventId: event.id, type: event.type, status, attempt })
    return status
  }
}
