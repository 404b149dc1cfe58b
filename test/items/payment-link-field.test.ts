import t from 'tap'
import { edit, item } from '../helpers/items.js'
import type { Harness } from '../helpers/build.js'
import { shop } from '../helpers/purchase.js'

/** Deactivates a link as the Stripe dashboard does (POST /v1/payment_links/<id> active=false). */
async function deactivate (h: Harness, id: string): Promise<void> {
  const response = await fetch(`${h.stripe.url}/v1/payment_links/${id}`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk_test_suite', 'content-type': 'application/x-www-form-urlencoded' },
    body: 'active=false'
  })
  if (!response.ok) throw new Error(`deactivating answered ${response.status}`)
}

const TITLE = 'A Field Guide to Testing'

t.test('a Payment Link id that is not plink_ and letters and digits is refused with the form, nothing stored', async (t) => {
  const s = await shop(t)
  const { h } = s
  const before = await item(h, s.slug)
  for (const id of ['pl_123', 'plink_', 'plink_abc-def', 'plink_' + 'a'.repeat(201), 'https://buy.stripe.com/abc']) {
    const response = await edit(h, s.admin, s.slug, { title: TITLE, description: 'kept words', extra: { payment_link_id: id } })
    t.equal(response.statusCode, 400, `${id.slice(0, 20)}: 400`)
    t.match(response.body, 'A Payment Link id starts with plink_')
    t.match(response.body, 'id="payment_link_id-problem"', 'on the field')
    t.match(response.body, 'kept words', 'the other values are kept')
    t.same(await item(h, s.slug), before, 'nothing stored')
  }
})

t.test('a Payment Link Stripe does not know is answered 400 and stores nothing', async (t) => {
  const s = await shop(t)
  const { h } = s
  const before = await item(h, s.slug)
  const response = await edit(h, s.admin, s.slug, { title: TITLE, extra: { payment_link_id: 'plink_unknown123' } })
  t.equal(response.statusCode, 400)
  t.match(response.body, 'Stripe does not know this Payment Link')
  t.same(await item(h, s.slug), before)
})

t.test('Stripe out of reach: the form says so with a 502 and nothing is saved, the title included', async (t) => {
  const s = await shop(t, { STRIPE_API_URL: 'http://127.0.0.1:9' })
  const { h } = s
  const before = await item(h, s.slug)
  const response = await edit(h, s.admin, s.slug, { title: 'A New Title', extra: { payment_link_id: 'plink_abc123' } })
  t.equal(response.statusCode, 502)
  t.match(response.body, 'Stripe could not be reached to check this Payment Link')
  t.match(response.body, 'id="upload-form"')
  t.match(response.body, 'value="plink_abc123"', 'the typed id is kept')
  t.same(await item(h, s.slug), before)
})

t.test('a stored link stays through edits without asking Stripe, is shown with its URL, and an empty field clears it', async (t) => {
  // Stripe is out of reach: an edit that keeps the link must not need it.
  const s = await shop(t, { STRIPE_API_URL: 'http://127.0.0.1:9' })
  const { h } = s
  const url = 'https://buy.stripe.com/test_abc123'
  await h.app.db.updateTable('content').set({ payment_link_id: 'plink_abc123', payment_link_url: url }).where('slug', '=', s.slug).execute()
  const form = await h.request(s.admin, { url: `/admin/content/${s.slug}/edit` })
  t.match(form.body, 'value="plink_abc123"')
  t.match(form.body, `<input type="text" id="payment_link_url" value="${url}" readonly`)
  t.match(form.body, `<a href="${url}"`)
  t.match((await h.request(s.admin, { url: '/admin/content' })).body, '>Payment Link</span>', 'the list marks it')

  t.equal((await edit(h, s.admin, s.slug, { title: 'Renamed', extra: { payment_link_id: 'plink_abc123' } })).statusCode, 303, 'unchanged: saved')
  t.equal((await edit(h, s.admin, s.slug, { title: 'Renamed again' })).statusCode, 303, 'left out: saved')
  let row = await item(h, s.slug)
  t.equal(row.payment_link_id, 'plink_abc123')
  t.equal(row.payment_link_url, url)

  t.equal((await edit(h, s.admin, s.slug, { title: 'Renamed again', extra: { payment_link_id: '' } })).statusCode, 303)
  row = await item(h, s.slug)
  t.equal(row.payment_link_id, null, 'cleared')
  t.equal(row.payment_link_url, null)
  t.notMatch((await h.request(s.admin, { url: `/admin/content/${s.slug}/edit` })).body, 'id="payment_link_url"')
})

t.test('a link another item already uses is answered 409 with the form, before Stripe is asked', async (t) => {
  const s = await shop(t, { STRIPE_API_URL: 'http://127.0.0.1:9' })
  const { h } = s
  const other = await h.upload(s.admin, { title: 'Another Guide' })
  t.equal(other.statusCode, 303)
  await h.app.db.updateTable('content').set({ payment_link_id: 'plink_taken1', payment_link_url: 'https://buy.stripe.com/test_taken1' }).where('slug', '=', 'another-guide').execute()
  const before = await item(h, s.slug)
  const response = await edit(h, s.admin, s.slug, { title: TITLE, extra: { payment_link_id: 'plink_taken1' } })
  t.equal(response.statusCode, 409)
  t.match(response.body, /This Payment Link already sells (&quot;|")Another Guide/)
  t.match(response.body, 'id="upload-form"')
  t.same(await item(h, s.slug), before)
})

t.test('a link Stripe knows is stored with its URL; an inactive one too, with a warning', async (t) => {
  const s = await shop(t)
  const { h } = s
  const link = await h.stripe.createPaymentLink({ name: TITLE, unitAmount: 500, currency: 'usd' })
  const saved = await edit(h, s.admin, s.slug, { title: TITLE, extra: { payment_link_id: link.id } })
  t.equal(saved.statusCode, 303)
  const row = await item(h, s.slug)
  t.equal(row.payment_link_id, link.id)
  t.equal(row.payment_link_url, link.url)
  const page = await h.request(s.admin, { url: `/content/${s.slug}` })
  t.match(page.body, 'was saved')
  t.match((await h.request(s.reader, { url: `/content/${s.slug}` })).body, 'Buy for $5.00', 'the item keeps selling on the site')

  const inactive = await h.stripe.createPaymentLink({ name: TITLE, unitAmount: 500, currency: 'usd' })
  await deactivate(h, inactive.id)
  t.equal((await edit(h, s.admin, s.slug, { title: TITLE, extra: { payment_link_id: inactive.id } })).statusCode, 303)
  t.equal((await item(h, s.slug)).payment_link_id, inactive.id)
  t.match((await h.request(s.admin, { url: `/content/${s.slug}` })).body, 'is inactive in Stripe')
})
