import type { FastifyPluginAsync } from 'fastify'
import { EMAIL } from '../settings/plugin.js'

const MAX_EMAIL = 254

/**
 * "Get your download links again": a buyer types the address they paid with and gets one mail
 * with a fresh link for each paid purchase of it. The answer is the same whether or not there
 * were purchases, and whether or not the address's hourly allowance was used up, so the form
 * tells nobody who bought here.
 */
const linksRoutes: FastifyPluginAsync = async (app) => {
  const { outbox, config } = app
  const days = config.downloadLinkDays

  app.get('/links', async (_request, reply) => await reply.page('pages/links.eta', {
    title: 'Get your download links again', values: { email: '' }, problem: null, sent: false, days
  }))

  app.post<{ Body: { email?: string } }>('/links', {
    // Anonymous visitors have no session for a CSRF token to live in, and a forged post can only
    // mail an address its own links, within the limits below.
    config: { rateLimited: true, csrf: false },
    schema: { body: { type: 'object', properties: { email: { type: 'string', maxLength: 1000 } } } }
  }, async (request, reply) => {
    const email = (request.body?.email ?? '').trim()
    if (email.length > MAX_EMAIL || !EMAIL.test(email)) {
      return await reply.page('pages/links.eta', {
        title: 'Get your download links again',
        values: { email: email.slice(0, MAX_EMAIL) },
        problem: 'Type the email address you paid with, like you@example.com.',
        sent: false,
        days
      }, { status: 400 })
    }
    const outcome = await outbox.queueLinks(email)
    // No address in the log: the outcome is enough to see the form work (and be abused).
    request.log.info({ outcome }, 'fresh links asked for')
    return await reply.page('pages/links.eta', { title: 'Check your email', values: { email }, problem: null, sent: true, days })
  })
}
export default linksRoutes
