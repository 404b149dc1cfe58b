import { Readable } from 'node:stream'
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import type { Content } from '../../db/types.js'
import { HttpError, NOT_FOUND } from '../../http/errors.js'
import { renderMarkdown } from '../../lib/markdown.js'
import type { MessagePage } from './pages.js'

const slugParams = { type: 'object', properties: { slug: { type: 'string', maxLength: 200 } }, required: ['slug'] } as const
const messageBody = { type: 'object', properties: { subject: { type: 'string', maxLength: 1000 }, body: { type: 'string', maxLength: 100_000 } } } as const
interface MessageBody { subject?: string, body?: string }
const MAX_SUBJECT = 200
const MAX_BODY = 50_000

/** Under /admin (the admin guard is the caller's): the customers export, and messages to an item's buyers. */
const audienceAdminRoutes: FastifyPluginAsync = async (app) => {
  const { audience, catalog, outbox, config } = app

  app.get('/customers.csv', async (_request, reply) => await reply
    .type('text/csv; charset=utf-8')
    .header('content-disposition', 'attachment; filename="customers.csv"')
    .header('cache-control', 'private, no-store')
    .send(Readable.from(audience.customersCsv())))

  async function itemOr404 (slug: string): Promise<Content> {
    const content = await catalog.find(slug)
    if (content === undefined) throw new HttpError(404, NOT_FOUND.item)
    return content
  }

  async function messagePage (reply: FastifyReply, content: Content, fields: Pick<MessagePage, 'subject' | 'body' | 'preview' | 'problem'>, status = 200): Promise<FastifyReply> {
    return await reply.page('pages/admin-message.eta', {
      title: `Message the buyers of ${content.title}`,
      slug: content.slug,
      itemTitle: content.title,
      ...fields,
      recipients: (await outbox.recipients(content.id)).length,
      mailOn: outbox.enabled,
      perMinute: config.bulkMailPerMinute,
      progress: await outbox.progress(content.id)
    }, { status })
  }

  /** The subject and body as typed, or why they cannot be sent. */
  function checked (body: MessageBody | undefined): { subject: string, body: string, problem: string | null } {
    const subject = (body?.subject ?? '').replace(/[\r\n]+/g, ' ').trim()
    const text = (body?.body ?? '').replace(/\r\n/g, '\n').trim()
    if (subject === '' || subject.length > MAX_SUBJECT) return { subject, body: text, problem: `Give the message a subject (at most ${MAX_SUBJECT} characters).` }
    if (text === '' || text.length > MAX_BODY) return { subject, body: text, problem: `Write the message (at most ${MAX_BODY} characters).` }
    return { subject, body: text, problem: null }
  }

  app.get<{ Params: { slug: string } }>('/content/:slug/message', { schema: { params: slugParams } }, async (request, reply) =>
    await messagePage(reply, await itemOr404(request.params.slug), { subject: '', body: '', preview: null, problem: null }))

  // The preview: the message as buyers will see it, with the button that sends it.
  app.post<{ Params: { slug: string }, Body: MessageBody }>('/content/:slug/message/preview', { schema: { params: slugParams, body: messageBody } }, async (request, reply) => {
    const content = await itemOr404(request.params.slug)
    const { subject, body, problem } = checked(request.body)
    return await messagePage(reply, content, { subject, body, preview: problem === null ? renderMarkdown(body) : null, problem }, problem === null ? 200 : 400)
  })

  app.post<{ Params: { slug: string }, Body: MessageBody }>('/content/:slug/message', { schema: { params: slugParams, body: messageBody } }, async (request, reply) => {
    const content = await itemOr404(request.params.slug)
    const { subject, body, problem } = checked(request.body)
    if (problem !== null) return await messagePage(reply, content, { subject, body, preview: null, problem }, 400)
    if (!outbox.enabled) return await messagePage(reply, content, { subject, body, preview: null, problem: 'Mail is off because SMTP_URL is not set, so nothing was sent.' }, 409)
    const { recipients } = await outbox.broadcast({ contentId: content.id, kind: 'message', subject, body, version: null })
    request.flash('info', recipients === 0 ? 'Nobody to send it to: the item has no buyers who still get mail.' : `Your message is on its way to ${recipients} buyer${recipients === 1 ? '' : 's'}, ${config.bulkMailPerMinute} a minute.`)
    return await reply.redirect(`/admin/content/${encodeURIComponent(content.slug)}/message`, 303)
  })
}
export default audienceAdminRoutes
