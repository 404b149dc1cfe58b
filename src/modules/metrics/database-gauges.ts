import { Gauge, type Registry } from 'prom-client'
import type { DatabaseHandle } from '../../db/database.js'
import type { OrderStatus } from '../../db/types.js'

/** Every order status, so a status with no orders reads 0 rather than vanishing from the series. */
const ORDER_STATUSES = ['pending', 'paid', 'failed', 'expired', 'refunded', 'review'] as const satisfies readonly OrderStatus[]

/**
 * The gauges read from the database when Prometheus scrapes (prom-client calls `collect` then),
 * so every instance answers the same figures: one GROUP BY over orders' statuses, one COUNT and
 * one MIN over the unsent outbox rows, one COUNT over the pending PDF jobs (the partial index outbox_due covers `sent_at IS NULL`).
 * Each answers a handful of rows at most, whatever the size of the tables.
 */
export function registerDatabaseGauges (registry: Registry, { db, runner }: Pick<DatabaseHandle, 'db' | 'runner'>, now: () => number = Date.now): void {
  const unsent = db.selectFrom('outbox').where('sent_at', 'is', null)

  // eslint-disable-next-line no-new -- the registry keeps the gauge; collect runs at scrape time.
  new Gauge({
    name: 'pdfmarket_orders',
    help: 'Orders by status (from the database: the same on every instance).',
    labelNames: ['status'],
    registers: [registry],
    async collect () {
      const rows = await runner.all(db.selectFrom('orders').select((eb) => ['status', eb.fn.countAll<number | string>().as('count')]).groupBy('status'))
      const counts = new Map(rows.map((row) => [row.status, Number(row.count)]))
      for (const status of ORDER_STATUSES) this.set({ status }, counts.get(status) ?? 0)
    }
  })

  // eslint-disable-next-line no-new -- as above.
  new Gauge({
    name: 'pdfmarket_outbox_pending',
    help: 'Mails in the outbox not sent yet (from the database: the same on every instance).',
    registers: [registry],
    async collect () {
      const row = await runner.first(unsent.select((eb) => eb.fn.countAll<number | string>().as('count')))
      this.set(Number(row?.count ?? 0))
    }
  })

  // eslint-disable-next-line no-new -- as above.
  new Gauge({
    name: 'pdfmarket_outbox_oldest_pending_seconds',
    help: 'Age in seconds of the oldest mail not sent yet, 0 when none (from the database: the same on every instance).',
    registers: [registry],
    async collect () {
      const row = await runner.first(unsent.select((eb) => eb.fn.min('created_at').as('oldest')))
      const oldest = row?.oldest == null ? NaN : Date.parse(row.oldest)
      this.set(Number.isNaN(oldest) ? 0 : Math.max(0, (now() - oldest) / 1000))
    }
  })

  // eslint-disable-next-line no-new -- as above.
  new Gauge({
    name: 'pdfmarket_jobs_pending',
    help: 'Background jobs (PDF and others) waiting to run (from the database: the same on every instance).',
    registers: [registry],
    async collect () {
      // The partial index pdf_jobs_pending covers exactly these rows.
      const row = await runner.first(db.selectFrom('pdf_jobs').where('status', '=', 'pending').select((eb) => eb.fn.countAll<number | string>().as('count')))
      this.set(Number(row?.count ?? 0))
    }
  })
}
