import flash from '@fastify/flash'
import fp from 'fastify-plugin'

/** One-time messages carried to the next page (kept in the session). */
export default fp(async function flashPlugin (app) {
  await app.register(flash)
}, { name: 'flash', dependencies: ['session'] })
