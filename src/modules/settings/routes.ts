import type { FastifyPluginAsync } from 'fastify'
import type { SettingsForm } from './pages.js'
import { type AllSettingsFields, LIMITS, settingsFields } from './settings.js'
import { TAX_LIMITS } from './tax.js'

const text = { type: 'string' } as const
const FIELDS = [
  'store_name', 'tagline', 'contact_email', 'refund_policy', 'allow_promotion_codes', 'stamp_pdfs',
  'automatic_tax', 'tax_behavior', 'tax_code', 'invoices', 'seller_name', 'seller_address', 'seller_tax_id'
] as const

/** The store's settings (under /admin: admins only, by the admin routes' guard). */
const settingsRoutes: FastifyPluginAsync = async (app) => {
  const { settings } = app

  const form = (values: AllSettingsFields, problems: SettingsForm['problems'] = {}) => ({
    title: 'Store settings', values, problems, provider: app.payments.name, limits: { storeName: LIMITS.storeName, tagline: LIMITS.tagline, refundPolicy: LIMITS.refundPolicy, ...TAX_LIMITS }
  })

  app.get('/settings', async (_request, reply) => await reply.page('pages/settings.eta', form(settingsFields(await settings.fresh()))))

  app.post<{ Body: Partial<AllSettingsFields> }>('/settings', {
    schema: {
      body: {
        type: 'object',
        // Lengths are checked by the service, so a long value comes back in the form with a
        // message rather than as an error page.
        properties: Object.fromEntries(FIELDS.map((name) => [name, text]))
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
      stamp_pdfs: body.stamp_pdfs,
      automatic_tax: body.automatic_tax,
      tax_behavior: body.tax_behavior,
      tax_code: body.tax_code,
      invoices: body.invoices,
      seller_name: body.seller_name,
      seller_address: body.seller_address,
      seller_tax_id: body.seller_tax_id
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
