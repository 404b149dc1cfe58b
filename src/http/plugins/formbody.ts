import formbody from '@fastify/formbody'
import fp from 'fastify-plugin'

/** The site's forms arrive urlencoded. */
export default fp(async function formbodyPlugin (app) {
  await app.register(formbody)
}, { name: 'formbody' })
