import type { Kysely } from 'kysely'

// Tax-correct sales (issue 25). What an order records of the tax Stripe Tax computed for it:
// - tax_behavior: how the order's price was sent to the provider: 'exclusive' (tax added on
//   top: the buyer paid amount - discount + tax), 'inclusive' (tax inside the price), null (no
//   automatic tax: Mollie, or Stripe with it off). Fixed when the order is created, so the grant
//   checks the amounts against what was asked even if the settings change meanwhile.
// - tax_cents: the tax in what the buyer paid (Stripe's total_details.amount_tax), 0 without.
// - buyer_country: the billing address's country (customer_details.address.country).
// - buyer_tax_ids: the buyer's tax ids as JSON [{ "type": "eu_vat", "value": "DE123456789" }].
// - invoice_id: the provider's invoice for the payment (Stripe's, with invoices on);
//   invoice_url: its hosted page, once read from the provider.
// Orders before this migration had no automatic tax: null behaviour, no tax.
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('orders').addColumn('tax_behavior', 'text').execute()
  await db.schema.alterTable('orders').addColumn('tax_cents', 'integer', (c) => c.notNull().defaultTo(0)).execute()
  await db.schema.alterTable('orders').addColumn('buyer_country', 'text').execute()
  await db.schema.alterTable('orders').addColumn('buyer_tax_ids', 'text').execute()
  await db.schema.alterTable('orders').addColumn('invoice_id', 'text').execute()
  await db.schema.alterTable('orders').addColumn('invoice_url', 'text').execute()
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
