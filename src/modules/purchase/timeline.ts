import type { InsertResult, Kysely } from 'kysely'
import { prepared } from '../../db/prepared.js'
import type { Runner } from '../../db/runner.js'
import type { Database } from '../../db/types.js'
import type { EventOutcome, FulfilVia, OrderEventKind, Timeline } from './model.js'

/** The outcome of an event or redirect, as the timeline says it. */
const OUTCOME_WORDS: Record<EventOutcome, string> = {
  granted: 'paid, access granted',
  already_paid: 'already paid, nothing changed',
  processing: 'payment still processing',
  mismatch: 'amount or currency differ from the order: held for review',
  not_payable: 'order not payable, nothing granted',
  unknown_order: 'not this order',
  duplicate: 'duplicate, nothing changed',
  failed: 'payment failed',
  expired: 'checkout expired',
  refunded: 'refunded, access revoked',
  already_refunded: 'already refunded, nothing changed',
  partial_refund: 'partial refund, access kept',
  ignored: 'nothing to change'
}

/**
 * The order's timeline (order_events): what happened to it, in the words the desk shows. Each
 * line is written by the caller's transaction, together with the change it records.
 */
export function createTimeline (db: Kysely<Database>, runner: Runner): Timeline {
  // Compiled once (see prepared()): every webhook event writes a line.
  const insertNote = prepared<[orderId: string, kind: OrderEventKind, detail: string | null], InsertResult>((arg) =>
    db.insertInto('order_events').values({ order_id: arg<string>(0), kind: arg<OrderEventKind>(1), detail: arg<string | null>(2) }))

  /** A redirect's line, unless the order's last line is the same redirect's (one statement). */
  // The order id and the words go in twice each: four arguments.
  const noteRedirect = prepared<[orderId: string, words: string, sameOrderId: string, sameWords: string], InsertResult>((arg) => db.insertInto('order_events')
    .columns(['order_id', 'kind', 'detail'])
    .expression(db.selectNoFrom((eb) => [eb.val(arg<string>(0)).as('order_id'), eb.val('redirect').as('kind'), eb.val(arg<string>(1)).as('detail')])
      .where(({ not, exists }) => not(exists(db.selectFrom(db.selectFrom('order_events').select(['kind', 'detail'])
        .where('order_id', '=', arg<string>(2)).orderBy('id', 'desc').limit(1).as('last'))
        .select('last.kind')
        .where('last.kind', '=', 'redirect').where('last.detail', '=', arg<string>(3)))))))

  async function note (orderId: string, kind: OrderEventKind, detail: string | null = null): Promise<void> {
    await runner.run(insertNote(orderId, kind, detail))
  }

  return {
    note,

    /**
     * The processing page reloads every 3 seconds: a redirect with the same outcome as the line
     * before it is not written again.
     */
    async noteVia (orderId: string, via: FulfilVia, outcome: EventOutcome): Promise<void> {
      const words = OUTCOME_WORDS[outcome]
      if (via.source === 'webhook') { await note(orderId, 'webhook', `${via.type} (${via.eventId}): ${words}`); return }
      await runner.run(noteRedirect(orderId, words, orderId, words))
    },

    async events (orderId: string) {
      return await runner.all(db.selectFrom('order_events').selectAll().where('order_id', '=', orderId).orderBy('at').orderBy('id'))
    }
  }
}
