import type { InsertResult } from 'kysely'
import { groupCommit } from '../../db/group-commit.js'
import { prepared } from '../../db/prepared.js'
import type { Fulfilment } from './fulfil.js'
import type { EventOutcome, FulfilVia, OrdersContext } from './model.js'
import type { PaymentEvent } from './providers/contract.js'
import { applyRefundEventInTransaction } from './refunds.js'

/**
 * A verified webhook event applied exactly once: its id is recorded in the same transaction as
 * its effect (fulfil, fail, expire, refund), so a redelivery changes nothing and a crash loses neither.
 */
export interface WebhookEvents {
  /** Applies the event in a transaction of its own. */
  applyEvent: (eventId: string, event: PaymentEvent) => Promise<EventOutcome>
  /** Applies the event inside the caller's transaction (a group commit's): no savepoints of its own. */
  applyEventInTransaction: (eventId: string, event: PaymentEvent) => Promise<EventOutcome>
  /** Applies the event committed together with the other events of the same event-loop turn (see db/group-commit.ts). */
  queueEvent: (eventId: string, event: PaymentEvent) => Promise<EventOutcome>
}

export function createWebhookEvents (ctx: OrdersContext, fulfilment: Fulfilment): WebhookEvents {
  const { db, runner } = ctx
  const recordEvent = prepared<[id: string, type: string], InsertResult>((arg) =>
    db.insertInto('payment_events').values({ id: arg<string>(0), type: arg<string>(1) }).onConflict((oc) => oc.column('id').doNothing()))

  async function applyEventInTransaction (eventId: string, event: PaymentEvent): Promise<EventOutcome> {
    const recorded = (await runner.run(recordEvent(eventId, event.type))).changes
    if (recorded === 0) return 'duplicate'
    const via: FulfilVia = { source: 'webhook', eventId, type: event.type }
    switch (event.action) {
      case 'complete':
        return (await fulfilment.fulfilInTransaction(event.session, via)).outcome
      case 'fail':
      case 'expire': {
        const status = event.action === 'expire' ? 'expired' : 'failed'
        const settled = await settlePending(ctx, event.session.orderId, event.session.id, status)
        const outcome = settled.changes > 0 ? status : 'ignored'
        if (settled.orderId !== undefined) await ctx.timeline.noteVia(settled.orderId, via, outcome)
        return outcome
      }
      case 'refund': {
        const { outcome, orderId } = await applyRefundEventInTransaction(ctx, fulfilment, event)
        if (orderId !== undefined) await ctx.timeline.noteVia(orderId, via, outcome)
        return outcome
      }
    }
  }

  // Completed checkouts of different orders (and different event ids) touch nothing of each
  // other (their own event row, order, library row, timeline and receipt) and may be applied
  // side by side; everything else (refunds, failures, Payment Link sessions) runs alone, in
  // event-id order, so that a refund and the completion it races are never interleaved.
  const queued = groupCommit(runner, {
    apply: async ({ eventId, event }: { eventId: string, event: PaymentEvent }) => await applyEventInTransaction(eventId, event),
    order: (a, b) => a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0,
    independence: ({ eventId, event }) => event.action === 'complete' && event.session.orderId !== null ? [`event:${eventId}`, `order:${event.session.orderId}`] : null
  })

  return {
    applyEventInTransaction,
    async applyEvent (eventId, event) {
      return await runner.transaction(async () => await applyEventInTransaction(eventId, event))
    },
    async queueEvent (eventId, event) {
      return await queued({ eventId, event })
    }
  }
}

/** Ends a still-pending order in a terminal state; later events for it change nothing. */
async function settlePending (ctx: OrdersContext, orderId: string | null, sessionId: string, status: 'failed' | 'expired'): Promise<{ changes: number, orderId: string | undefined }> {
  const { db, runner } = ctx
  const query = db.updateTable('orders').set({ status }).where('status', '=', 'pending')
  const { changes } = await runner.run(orderId !== null
    ? query.where('id', '=', orderId)
    : query.where('provider_checkout_id', '=', sessionId))
  const order = await runner.first(orderId !== null
    ? db.selectFrom('orders').select('id').where('id', '=', orderId)
    : db.selectFrom('orders').select('id').where('provider_checkout_id', '=', sessionId))
  return { changes, orderId: order?.id }
}
