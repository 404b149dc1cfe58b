import type { FastifyPluginAsync } from 'fastify'
import type { SettingsForm } from './pages.js'
import { LIMITS, type SettingsFields, settingsFields } from './settings.js'

const text = { type: 'string' } as const

/** The store's settings (under /admin: admins only, by the admin routes' guard). */
const settingsRoutes: FastifyPluginAsync = async (app) => {
  const { settings } = app

  const form = (values: SettingsFields, problems: SettingsForm['problems'] = {}) => ({
    title: 'Store settings', values, problems, provider: app.payments.name, limits: { storeName: LIMITS.storeName, tagline: LIMITS.tagline, refundPolicy: LIMITS.refundPolicy }
  })

  app.get('/settings', async (_request, reply) => await reply.page('pages/settings.eta', form(settingsFields(await settings.fresh()))))

  app.post<{ Body: Partial<SettingsFields> }>('/settings', {
    schema: {
      body: {
        type: 'object',
        // Lengths are checked by the service, so a long value comes back in the form with a
        // message rather than as an error page.
        properties: { store_name: text, tagline: text, contact_email: text, refund_policy: text, allow_promotion_codes: text, stamp_pdfs: text }
      }
    }
  }, async (request, reply) => {
    const body = request.body
    const result = await settings.save({
      store_name: body.store_name ?? '',
      tagline: body.tagline ?? '',
      contact_email: body.contact_email ?? '',
      refund_policy: body.refund_policy ?? '',
      allow_promotion_codes: body.allow_promotion_codes,
      stamp_pdfs: body.stamp_pdfs
    })
    if (result.settings === undefined) {
      return await reply.page('pages/settings.eta', form(result.values, result.problems), { status: 400 })
    }
    request.log.info({ storeName: result.settings.storeName }, 'store settings saved')
    request.flash('info', 'Settings saved. Every page shows them now.')
    return await reply.redirect('/admin/settings', 303)
  })
}
export default settingsRoutes
