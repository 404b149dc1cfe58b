import type { Content, User } from '../../db/types.js'
import { DomainError } from '../../lib/errors.js'
import { type CheckoutDeps, type CheckoutStart, claimed, resumeOpen, storeAsks } from './checkout.js'
import { promotionCodesAllowed } from './promotion-codes.js'

/** One entry of a cart as the checkout takes it: an item or bundle on sale, at the amount checked (a pay-what-you-want item's chosen amount). */
export interface CartLine {
  content: Content
  amount: number
}

/** Stripe takes at most 100 line items; a cart is kept far below (the session cookie holds it). */
export const CART_MAX_LINES = 20

/**
 * A cart's checkout: one order with a line per entry, one Checkout Session with a line item per
 * entry (Stripe) or one payment for the total (Mollie). As with a Buy, one open checkout per
 * buyer and cart: a second Checkout click while the first is open goes to the same checkout.
 */
export function createCartCheckout (deps: CheckoutDeps) {
  // One buyer's cart checkouts are taken one at a time (see createCheckout's inFlight).
  const inFlight = new Map<number, Promise<unknown>>()

  return {
    async startCart (user: User, lines: CartLine[], options: { email?: string | null } = {}): Promise<CheckoutStart> {
      const first = lines[0]
      if (first === undefined) throw new DomainError('invalid', 'Your cart is empty: add an item before checking out.')
      if (lines.length > CART_MAX_LINES) throw new DomainError('invalid', `A cart holds at most ${CART_MAX_LINES} items.`)
      const previous = inFlight.get(user.id) ?? Promise.resolve()
      const current = previous.catch(() => {}).then(async () => await claimed(deps, user.id, first.content.id, async () => await begin(deps, user, lines, options.email ?? null)))
      inFlight.set(user.id, current)
      try {
        return await current
      } finally {
        if (inFlight.get(user.id) === current) inFlight.delete(user.id)
      }
    }
  }
}

/** An open checkout of this buyer for exactly these lines (items, amounts, order), currency and tax behaviour. */
async function resumeCart (deps: CheckoutDeps, user: User, lines: CartLine[], taxBehavior: string | null): Promise<CheckoutStart | undefined> {
  const { orders } = deps
  for (const open of await orders.openCartsFor(user.id, lines[0]!.content.id)) {
    if (open.currency !== lines[0]!.content.currency || open.tax_behavior !== taxBehavior) continue
    const held = await orders.lines(open.id)
    const same = held.length === lines.length && held.every((line, i) => line.content_id === lines[i]!.content.id && line.amount_cents === lines[i]!.amount)
    if (same) return await resumeOpen(deps, open)
  }
  return undefined
}

async function begin (deps: CheckoutDeps, user: User, lines: CartLine[], email: string | null): Promise<CheckoutStart> {
  const { orders, payments, settings, publicUrl, log } = deps
  const store = await settings.fresh()
  const { tax, invoice } = storeAsks(payments, store)
  const resumed = await resumeCart(deps, user, lines, tax?.behavior ?? null)
  if (resumed !== undefined) return resumed
  const order = await orders.createWithLines(user.id, lines, tax?.behavior ?? null)
  try {
    const session = await payments.createCheckout({
      order,
      title: lines.map((line) => line.content.title).join(', '),
      lines: lines.map((line) => ({ title: line.content.title, amountCents: line.amount })),
      customerEmail: user.email ?? email,
      // A code could take a pay-what-you-want line below its minimum: a cart holding one offers none.
      allowPromotionCodes: lines.every((line) => promotionCodesAllowed(line.content, store.allowPromotionCodes)),
      cancelUrl: `${publicUrl}/cart`,
      tax,
      invoice
    })
    await orders.attachCheckout(order.id, session.id)
    log.info({ orderId: order.id, sessionId: session.id, lines: lines.length }, 'cart checkout started')
    return { url: session.url, orderId: order.id, resumed: false }
  } catch (error) {
    await orders.abandon(order.id)
    log.error({ err: error, orderId: order.id }, 'could not create a checkout session for a cart')
    throw error
  }
}

export type CartCheckout = ReturnType<typeof createCartCheckout>
