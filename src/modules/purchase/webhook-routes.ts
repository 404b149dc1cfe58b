import type { FastifyPluginAsync } from 'fastify'
import { DomainError } from '../../lib/errors.js'
import { createMollieWebhookGate } from './mollie-webhooks.js'
import type { EventOutcome, WebhookOutcome } from './model.js'

/** Mollie's payment ids: tr_ and letters and digits. */
const MOLLIE_PAYMENT_ID = /^tr_[A-Za-z0-9]{1,64}$/

/**
 * An applied event's outcome as counted: a repeat of an event id is a duplicate, an event for no
 * order of ours is ignored, and every other outcome (including already paid or refunded, which
 * change nothing a second time) was applied to our orders.
 */
function counted (outcome: EventOutcome): WebhookOutcome {
  if (outcome === 'duplicate') return 'duplicate'
  if (outcome === 'ignored' || outcome === 'unknown_order') return 'ignored'
  return 'applied'
}

/**
 * The payment provider's events (in the machine context: raw bodies, JSON answers). Only the
 * configured provider's endpoint exists; the other answers 404 like any unknown path.
 */
const webhookRoutes: FastifyPluginAsync<{ now?: () => number }> = async (app, options) => {
  const { payments, orders } = app
  app.setNotFoundHandler(async (_request, reply) => await reply.code(404).send({ statusCode: 404, error: 'No such webhook endpoint.' }))

  if (payments.name === 'stripe') {
    app.post('/stripe', async (request, reply) => {
      // Rejected until the signature and the body are good.
      request.webhookOutcome = 'rejected'
      const signature = request.headers['stripe-signature']
      if (typeof signature !== 'string' || signature === '') {
        return reply.code(400).send({ error: 'Missing Stripe-Signature header.' })
      }
      if (!Buffer.isBuffer(request.body)) return reply.code(400).send({ error: 'Expected a JSON event body.' })
      let verified
      try {
        verified = payments.verifyEvent(request.body, signature)
      } catch (error) {
        request.log.warn({ err: { message: (error as Error).message } }, 'webhook rejected: bad signature or body')
        return reply.code(400).send({ error: 'Invalid signature or event.' })
      }
      if (verified.event === null) {
        request.webhookOutcome = 'ignored'
        request.log.debug({ eventId: verified.id, type: verified.type }, 'webhook event ignored')
        return { received: true, ignored: true }
      }
      // An event that fails to apply is answered 500 and counted as nothing: Stripe sends it again.
      request.webhookOutcome = null
      const outcome = await orders.queueEvent(verified.id, verified.event)
      request.webhookOutcome = counted(outcome)
      request.log.info({ eventId: verified.id, type: verified.type, outcome }, 'webhook event handled')
      return { received: true, outcome }
    })
  }

  if (payments.name === 'mollie') {
    // How often a notification may make us ask Mollie (see src/modules/purchase/mollie-webhooks.ts).
    const gate = createMollieWebhookGate({ isOurs: async (id) => await orders.byCheckoutId(id) !== undefined, now: options.now })

    /**
     * Mollie posts `id=tr_...` and nothing else, unsigned: nothing in the body is believed. The
     * payment is fetched from Mollie with our key, so an id of another account is unknown there,
     * and one of ours is applied as Mollie has it now. Unknown ids are answered 200, as Mollie
     * asks, so nobody learns which exist; only a failure to ask Mollie is an error (it retries),
     * and a payment of ours looked up moments ago is asked to come again later (503).
     */
    app.post('/mollie', async (request, reply) => {
      const body = Buffer.isBuffer(request.body) ? request.body.toString('utf8') : ''
      const id = new URLSearchParams(body).get('id') ?? ''
      if (!MOLLIE_PAYMENT_ID.test(id)) {
        request.webhookOutcome = 'rejected'
        request.log.warn({ id: id.slice(0, 80) }, 'Mollie webhook without a payment id: ignored')
        return { received: true, ignored: true }
      }
      const admission = await gate.admit(id, request.ip)
      if (admission.kind === 'skip') {
        request.webhookOutcome = 'ignored'
        request.log.warn({ paymentId: id }, 'Mollie webhook for none of our payments, over this client\'s lookups: ignored')
        return { received: true, ignored: true }
      }
      if (admission.kind === 'later') {
        request.log.info({ paymentId: id, retryAfter: admission.retryAfterSeconds }, 'Mollie webhook for a payment looked up moments ago: Mollie will send it again')
        return reply.code(503).header('retry-after', String(admission.retryAfterSeconds))
          .send({ error: 'This payment was looked up moments ago; send the notification again later.' })
      }
      try {
        let verified
        try {
          verified = await payments.eventFor(id)
        } catch (error) {
          request.log.error({ err: error, paymentId: id }, 'Mollie webhook: the payment could not be fetched; Mollie will retry')
          const status = error instanceof DomainError && error.kind === 'upstream' ? 503 : 500
          return reply.code(status).send({ error: 'The payment could not be fetched from Mollie; try again.' })
        }
        if (verified === undefined || verified.event === null) {
          request.webhookOutcome = 'ignored'
          request.log.warn({ paymentId: id }, 'Mollie webhook for a payment Mollie does not know: ignored')
          return { received: true, ignored: true }
        }
        const outcome = await orders.queueEvent(verified.id, verified.event)
        request.webhookOutcome = counted(outcome)
        request.log.info({ eventId: verified.id, type: verified.type, outcome }, 'webhook event handled')
        return { received: true, outcome }
      } finally {
        admission.done()
      }
    })
  }
}
export default webhookRoutes
