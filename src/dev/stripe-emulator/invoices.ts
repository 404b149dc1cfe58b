// Invoices Checkout creates with invoice_creation[enabled]: one paid invoice per successful
// payment, numbered in sequence (EMU-0001, ...), answered by GET /v1/invoices/:id and shown on
// a hosted page (/i/:id) as a buyer would expect an invoice to look.
import { nowSec, randomId } from './ids.js'
import type { CheckoutSession, Invoice, InvoiceLine, SessionState } from './types.js'

/** What the hosted page shows beyond the Invoice object. */
export interface InvoiceExtras {
  sessionId: string
  businessName: string | null
}

export interface InvoicesSnapshot {
  invoices: Array<{ invoice: Invoice, extras: InvoiceExtras }>
}

const reason = (rate: number, reverse: boolean, country: string | null): InvoiceLine['taxes'][number]['taxability_reason'] =>
  reverse ? 'reverse_charge' : country === 'US' ? 'not_collecting' : rate === 0 ? 'zero_rated' : 'standard_rated'

export class Invoices {
  readonly #invoices = new Map<string, { invoice: Invoice, extras: InvoiceExtras }>()

  constructor (private readonly pagesUrl: () => string, private readonly account: { name: string, country: string }) {}

  get (id: string): { invoice: Invoice, extras: InvoiceExtras } | undefined {
    return this.#invoices.get(id)
  }

  /** A paid invoice for what the session charged, its lines as they were sold. */
  create (session: CheckoutSession, state: SessionState, metadata: Record<string, string>): Invoice {
    const id = randomId('in_')
    const now = nowSec()
    const details = session.customer_details
    const reverse = details?.tax_exempt === 'reverse'
    const country = details?.address.country ?? null
    const lines: InvoiceLine[] = state.lines.map((line) => ({
      id: randomId('il_'),
      object: 'line_item',
      amount: line.amountSubtotal,
      currency: line.currency,
      description: line.description,
      quantity: line.quantity,
      unit_amount: line.unitAmount,
      discount_amount: line.amountDiscount,
      taxes: session.automatic_tax.enabled
        ? [{ amount: line.amountTax, tax_behavior: line.taxBehavior, taxable_amount: line.amountSubtotal - line.amountDiscount - (line.taxBehavior === 'inclusive' ? line.amountTax : 0), rate_percent: line.taxRate / 100, taxability_reason: reason(line.taxRate, reverse, country) }]
        : []
    }))
    const invoice: Invoice = {
      id,
      object: 'invoice',
      account_name: this.account.name,
      account_country: this.account.country,
      custom_fields: session.invoice_creation.invoice_data.custom_fields,
      number: `EMU-${String(this.#invoices.size + 1).padStart(4, '0')}`,
      status: 'paid',
      currency: session.currency,
      subtotal: session.amount_subtotal,
      total_discount_amounts: session.total_details.amount_discount > 0
        ? [{ amount: session.total_details.amount_discount, discount: session.discounts[0]?.coupon ?? null }]
        : [],
      tax: session.total_details.amount_tax,
      total: session.amount_total,
      amount_paid: session.amount_total,
      amount_due: session.amount_total,
      customer_email: details?.email ?? session.customer_email,
      customer_name: details?.name ?? null,
      customer_address: details?.address ?? { city: null, country: null, line1: null, line2: null, postal_code: null, state: null },
      customer_tax_exempt: reverse ? 'reverse' : 'none',
      customer_tax_ids: details?.tax_ids ?? [],
      lines: { object: 'list', data: lines, has_more: false },
      hosted_invoice_url: `${this.pagesUrl()}/i/${id}`,
      invoice_pdf: null,
      metadata,
      status_transitions: { finalized_at: now, paid_at: now },
      created: now,
      livemode: false
    }
    this.#invoices.set(id, { invoice, extras: { sessionId: session.id, businessName: details?.business_name ?? null } })
    return invoice
  }

  snapshot (): InvoicesSnapshot {
    return { invoices: [...this.#invoices.values()] }
  }

  restore (snapshot: InvoicesSnapshot | undefined): void {
    for (const entry of snapshot?.invoices ?? []) this.#invoices.set(entry.invoice.id, entry)
  }
}
