// The hosted invoice page (/i/:id, Stripe's hosted_invoice_url): the invoice as a buyer expects
// to see it, with number, dates, seller, bill-to (name, business, address, tax id), lines,
// subtotal, discount, tax (with its rate, or "Reverse charge"), total and "Paid".
import type { FastifyInstance, FastifyReply } from 'fastify'
import { formatAmount } from '../../lib/money.js'
import type { Invoices } from './invoices.js'
import { countryName, formatRate, taxName } from './tax.js'
import type { Invoice } from './types.js'

export interface InvoiceView {
  title: string
  number: string
  issued: string
  paid: string
  seller: { name: string, country: string, fields: Array<{ name: string, value: string }> }
  billTo: { name: string | null, business: string | null, email: string | null, address: string[], taxIds: string[] }
  lines: Array<{ description: string, quantity: number, unit: string, amount: string }>
  subtotal: string
  discount: string | null
  tax: { label: string, amount: string } | null
  total: string
  amountPaid: string
  notes: string[]
}

const TAX_ID_LABELS: Record<string, string> = { eu_vat: 'VAT', gb_vat: 'VAT', ch_vat: 'VAT', no_vat: 'VAT', au_abn: 'ABN' }

const date = (sec: number): string => new Date(sec * 1000).toLocaleDateString('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' })

function taxRow (invoice: Invoice): InvoiceView['tax'] {
  const taxes = invoice.lines.data.flatMap((line) => line.taxes)
  if (taxes.length === 0) return null
  const amount = formatAmount(invoice.tax, invoice.currency)
  if (invoice.customer_tax_exempt === 'reverse') return { label: 'Reverse charge', amount }
  const country = invoice.customer_address.country ?? ''
  const rates = [...new Set(taxes.map((tax) => tax.rate_percent))].sort((a, b) => a - b)
  const inclusive = taxes.every((tax) => tax.tax_behavior === 'inclusive')
  return { label: `${inclusive ? 'Includes ' : ''}${taxName(country)} ${rates.map((rate) => formatRate(rate * 100)).join(', ')}`, amount }
}

export function invoiceView (invoice: Invoice, businessName: string | null): InvoiceView {
  const money = (amount: number): string => formatAmount(amount, invoice.currency)
  const address = invoice.customer_address
  const discount = invoice.total_discount_amounts.reduce((sum, d) => sum + d.amount, 0)
  const taxes = invoice.lines.data.flatMap((line) => line.taxes)
  const notes = [
    ...(invoice.customer_tax_exempt === 'reverse' ? ['Reverse charge: VAT to be accounted for by the recipient (Article 196, Council Directive 2006/112/EC).'] : []),
    ...(taxes.length > 0 && taxes.every((tax) => tax.tax_behavior === 'inclusive') && invoice.customer_tax_exempt !== 'reverse' ? ['Prices include tax.'] : [])
  ]
  return {
    title: `Invoice ${invoice.number}`,
    number: invoice.number,
    issued: date(invoice.status_transitions.finalized_at),
    paid: date(invoice.status_transitions.paid_at),
    seller: { name: invoice.account_name, country: countryName(invoice.account_country), fields: invoice.custom_fields ?? [] },
    billTo: {
      name: invoice.customer_name,
      business: businessName,
      email: invoice.customer_email,
      address: [address.line1, [address.postal_code, address.city].filter(Boolean).join(' '), address.country === null ? '' : countryName(address.country)].filter((part): part is string => part !== null && part !== ''),
      taxIds: invoice.customer_tax_ids.map((id) => `${TAX_ID_LABELS[id.type] ?? id.type} ${id.value}`)
    },
    lines: invoice.lines.data.map((line) => ({ description: line.description, quantity: line.quantity, unit: money(line.unit_amount), amount: money(line.amount) })),
    subtotal: money(invoice.subtotal),
    discount: discount > 0 ? `−${money(discount)}` : null,
    tax: taxRow(invoice),
    total: money(invoice.total),
    amountPaid: money(invoice.amount_paid),
    notes
  }
}

async function html (reply: FastifyReply, status: number, template: string, data: object): Promise<FastifyReply> {
  const body = await reply.viewAsync(template, data)
  return await reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(body)
}

export function invoiceRoutes (app: FastifyInstance, invoices: Invoices): void {
  app.get<{ Params: { id: string } }>('/i/:id', async (request, reply) => {
    const found = invoices.get(request.params.id)
    if (found === undefined) return await html(reply, 404, 'message.eta', { title: 'Invoice not found', message: `There is no invoice with id ${request.params.id}.`, links: [] })
    return await html(reply, 200, 'invoice.eta', invoiceView(found.invoice, found.extras.businessName))
  })
}
