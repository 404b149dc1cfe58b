import type { FastifyPluginAsync } from 'fastify'
import type { MailCatcher } from '../../dev/mail-catcher/index.js'
import { HttpError, NOT_FOUND } from '../../http/errors.js'

/** The demo's caught mail, newest first; registered only in demo mode when the catcher runs. */
const devMailRoutes: FastifyPluginAsync<{ catcher: MailCatcher }> = async (app, { catcher }) => {
  app.get<{ Querystring: { id?: number } }>('/dev/mail', {
    schema: { querystring: { type: 'object', properties: { id: { type: 'integer', minimum: 1 } } } }
  }, async (request, reply) => {
    const messages = catcher.messages()
    const wanted = request.query.id
    const selected = wanted === undefined ? (messages[0] ?? null) : (messages.find((m) => m.id === wanted) ?? null)
    if (wanted !== undefined && selected === null) throw new HttpError(404, NOT_FOUND.page)
    // A srcdoc frame inherits this page's CSP, and mail is styled inline (clients drop
    // stylesheets): allow inline styles here only. Scripts stay off (CSP and the sandbox).
    const csp = reply.getHeader('content-security-policy')
    if (typeof csp === 'string') reply.header('content-security-policy', csp.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'"))
    return await reply.page('pages/dev-mail.eta', { title: 'Mail', messages, selected })
  })
}
export default devMailRoutes
