import csrf from '@fastify/csrf-protection'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The site's form POSTs are CSRF-checked unless a route opts out. */
    csrf?: boolean
  }
}

/**
 * Every POST of the site is checked, in a preHandler: after the body is parsed (a multipart
 * form's leading fields, before any of its files is stored).
 */
export default fp(async function csrfPlugin (app) {
  await app.register(csrf, { sessionPlugin: '@fastify/secure-session' })
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    if (!methods.includes('POST') || route.config?.csrf === false) return
    const existing = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler]
    route.preHandler = [app.csrfProtection, ...existing]
  })
}, { name: 'csrf', dependencies: ['session'] })
