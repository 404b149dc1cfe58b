// The webhook yardstick, in a process of its own like the app: a bare Fastify route that takes
// the raw body, verifies the Stripe signature with the Stripe SDK (`stripe.webhooks.constructEvent`,
// the same secret as the app's STRIPE_WEBHOOK_SECRET) and answers 200. No database, no session,
// no hooks: what any Stripe webhook endpoint on Fastify costs before it does any work.
import Fastify from 'fastify'
import Stripe from 'stripe'

const port = Number(process.env.PORT)
const secret = process.env.STRIPE_WEBHOOK_SECRET
if (!Number.isInteger(port) || secret === undefined) {
  console.error('webhook-baseline-server: PORT and STRIPE_WEBHOOK_SECRET are required')
  process.exit(1)
}

const stripe = new Stripe('sk_test_bench')
const app = Fastify({ logger: false })
// The raw bytes as they came: the signature is over them.
app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => { done(null, body) })
app.post('/webhooks/stripe', async (request, reply) => {
  try {
    const event = stripe.webhooks.constructEvent(request.body as Buffer, String(request.headers['stripe-signature'] ?? ''), secret)
    return await reply.send({ received: true, id: event.id })
  } catch {
    return await reply.code(400).send({ error: 'bad signature' })
  }
})

process.on('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
await app.listen({ port, host: '127.0.0.1' })
console.log('webhook baseline ready')
