import { sql } from 'kysely'
import { keptNetSql } from '../../db/order-amounts.js'

/**
 * The one definition of a sale, for every page that counts them (the dashboard, the Items
 * page): an order that was paid (paid_at set), whatever became of it since. Refunds count
 * against their sale rather than unmaking it: `refunds` is how many sales had money go back
 * (all or part of it), `net` what the sales kept (paid, less promotion discounts, refunds and the
 * tax in what stayed paid: tax is the tax authority's money, not the creator's).
 * Conditional aggregates over `orders`, so a query that counts other orders too can use them.
 */
export const saleFigures = {
  sales: () => sql<number>`coalesce(sum(case when orders.paid_at is not null then 1 else 0 end), 0)`.as('sales'),
  refunds: () => sql<number>`coalesce(sum(case when orders.paid_at is not null and orders.refunded_cents > 0 then 1 else 0 end), 0)`.as('refunds'),
  net: () => sql<number>`coalesce(sum(case when orders.paid_at is not null then ${keptNetSql()} else 0 end), 0)`.as('net')
}
