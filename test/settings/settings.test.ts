import t from 'tap'
import { buildApp } from '../../src/app.js'
import { DEFAULT_TAX } from '../../src/modules/settings/plugin.js'
import { ADMIN_EMAIL, build, type CookieJar, type Harness } from '../helpers/build.js'

const valid = {
  store_name: 'Ada’s Atlas Press',
  tagline: 'Maps and field notes, hand drawn',
  contact_email: 'help@atlas.example',
  refund_policy: '# Refunds\n\nWrite within **14 days** for a full refund.',
  allow_promotion_codes: '1'
}

async function save (h: Harness, jar: CookieJar, form: Record<string, string>, csrf?: string) {
  return await h.request(jar, { method: 'POST', url: '/admin/settings', form: { _csrf: csrf ?? await h.csrf(jar), ...form } })
}

t.test('an admin saves the settings: 303 back with a flash, and every page shows them', async (t) => {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  const form = await h.request(admin, { url: '/admin/settings' })
  t.equal(form.statusCode, 200)
  t.match(form.body, /name="store_name"[^>]*value="PDF Market"/, 'the default store name is in the form')

  const saved = await save(h, admin, valid)
  t.equal(saved.statusCode, 303)
  t.equal(saved.headers.location, '/admin/settings')
  const after = await h.request(admin, { url: '/admin/settings' })
  t.match(after.body, /Settings saved/)
  t.match(after.body, /value="Ada’s Atlas Press"/)
  t.match(after.body, /name="allow_promotion_codes" value="1" checked/)

  const page = await h.request(null, { url: '/' })
  t.match(page.body, /<title>Catalogue · Ada’s Atlas Press<\/title>/, 'the title')
  t.match(page.body, /class="brand"[^]*?Ada’s Atlas Press[^]*?<\/a>/, 'the header brand')
  t.notMatch(page.body, /PDF Market/, 'the old name is gone')
  const footer = page.body.slice(page.body.indexOf('<footer'))
  t.match(footer, /Ada’s Atlas Press/, 'the footer names the store')
  t.match(footer, /Maps and field notes, hand drawn/, 'the footer shows the tagline')
  t.match(footer, /<a href="mailto:help@atlas\.example">help@atlas\.example<\/a>/, 'the footer links the contact')
  t.match(footer, /<a href="\/policies">/, 'the footer links the policies')
  t.equal(h.app.settings.current().allowPromotionCodes, true)
  // An error page is drawn in the same layout.
  const missing = await h.request(null, { url: '/no-such-page' })
  t.equal(missing.statusCode, 404)
  t.match(missing.body, /<title>Page not found · Ada’s Atlas Press<\/title>/)
})

t.test('defaults: "PDF Market", no tagline, no contact, no seller pitch in the footer', async (t) => {
  const h = await build(t)
  const page = await h.request(null, { url: '/' })
  t.match(page.body, /<title>Catalogue · PDF Market<\/title>/)
  const footer = page.body.slice(page.body.indexOf('<footer'))
  t.notMatch(footer, /every cent|Your files, your customers/, 'the pitch to sellers is gone')
  t.notMatch(footer, /mailto:/, 'no contact until one is set')
  t.match(footer, /href="\/policies"/)
  t.same(h.app.settings.current(), { storeName: 'PDF Market', tagline: '', contactEmail: '', refundPolicy: '', allowPromotionCodes: false, stampPdfs: false, tax: DEFAULT_TAX })
})

t.test('bad input: 400 with the form, the values kept and a message per field; nothing changes', async (t) => {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['an empty store name', { ...valid, store_name: '   ' }, /Give the store a name/],
    ['a store name of 61 characters', { ...valid, store_name: 'n'.repeat(61) }, /at most 60 characters long \(it has 61\)/],
    ['a tagline of 121 characters', { ...valid, tagline: 't'.repeat(121) }, /at most 120 characters long/],
    ['a contact that is not an address', { ...valid, contact_email: 'help at example' }, /must be an address like help@example\.com/],
    ['a contact with no domain dot', { ...valid, contact_email: 'help@localhost' }, /must be an address like/],
    ['a contact with markup', { ...valid, contact_email: '"><script>@x.com' }, /must be an address like/],
    ['a policy over 20,000 characters', { ...valid, refund_policy: 'p'.repeat(20_001) }, /at most 20,000 characters long \(it has 20,001\)/],
    ['promotion codes other than 1', { ...valid, allow_promotion_codes: 'yes' }, /either on \(1\) or off/]
  ]
  for (const [name, form, message] of cases) {
    const response = await save(h, admin, form)
    t.equal(response.statusCode, 400, name)
    t.match(response.body, message, `${name}: the message`)
    t.match(response.body, /Nothing was saved/, `${name}: says nothing was saved`)
    t.match(response.body, /aria-invalid="true"/, `${name}: the field is marked`)
    t.match(response.body, /<form id="settings-form"/, `${name}: the form is shown again`)
  }
  const kept = await save(h, admin, { ...valid, store_name: '', tagline: 'Kept <b>as typed</b>' })
  t.match(kept.body, /value="Kept &lt;b&gt;as typed&lt;\/b&gt;"/, 'values come back, escaped')
  t.match(kept.body, /help@atlas\.example/)
  t.match(kept.body, /Write within \*\*14 days\*\*/, 'the policy comes back in its textarea')
  t.same(h.app.settings.current().storeName, 'PDF Market', 'the settings in force did not change')
  t.equal((await h.app.db.selectFrom('settings').selectAll().execute()).length, 0, 'nothing was stored')
})

t.test('values are tidied: a name of 60 characters (emoji count once), line breaks in one-line fields, an empty contact', async (t) => {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  const name = '📚'.repeat(60)
  const response = await save(h, admin, { store_name: name, tagline: '  Two\r\nlines  ', contact_email: '', refund_policy: 'a\r\nb' })
  t.equal(response.statusCode, 303)
  t.same(h.app.settings.current(), { storeName: name, tagline: 'Two lines', contactEmail: '', refundPolicy: 'a\nb', allowPromotionCodes: false, stampPdfs: false, tax: DEFAULT_TAX })
})

t.test('the settings survive a restart of the app on the same database', async (t) => {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  t.equal((await save(h, admin, valid)).statusCode, 303)
  await h.app.close()
  const again = await buildApp(h.config)
  t.teardown(async () => { await again.close() })
  await again.ready()
  t.same(again.settings.current(), { storeName: valid.store_name, tagline: valid.tagline, contactEmail: valid.contact_email, refundPolicy: valid.refund_policy, allowPromotionCodes: true, stampPdfs: false, tax: DEFAULT_TAX })
  const page = await again.inject({ url: '/policies' })
  t.match(page.body, /<title>Refunds and policies · Ada’s Atlas Press<\/title>/)
  t.match(page.body, /<strong>14 days<\/strong>/)
})

t.test('admins only: readers 403, anonymous 302 to sign-in, on the form and the save', async (t) => {
  const h = await build(t)
  const reader = await h.signIn({ email: 'reader@example.com' })
  t.equal((await h.request(reader, { url: '/admin/settings' })).statusCode, 403)
  t.equal((await save(h, reader, valid)).statusCode, 403)
  const anonymous = await h.request(null, { url: '/admin/settings' })
  t.equal(anonymous.statusCode, 302)
  t.match(anonymous.headers.location, /^\/login\?next=%2Fadmin%2Fsettings/)
  const post = await h.request(null, { method: 'POST', url: '/admin/settings', form: valid })
  // A form posted while signed out is sent to sign in with a 303 (redirectToLogin).
  t.equal(post.statusCode, 303)
  t.match(post.headers.location, /^\/login/)
  t.equal(h.app.settings.current().storeName, 'PDF Market')
})

t.test('CSRF: a save without the token, or with a forged one, is refused and changes nothing', async (t) => {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  const none = await h.request(admin, { method: 'POST', url: '/admin/settings', form: valid })
  t.equal(none.statusCode, 403)
  const forged = await save(h, admin, valid, 'forged-token')
  t.equal(forged.statusCode, 403)
  t.equal(h.app.settings.current().storeName, 'PDF Market')
})

t.test('/policies: the policy from Markdown and the contact; a friendly page when none is set', async (t) => {
  const h = await build(t)
  const empty = await h.request(null, { url: '/policies' })
  t.equal(empty.statusCode, 200)
  t.match(empty.body, /has not written down its refund policy yet/)
  t.match(empty.body, /has not listed a contact address yet/)

  const admin = await h.signIn({ email: ADMIN_EMAIL })
  await save(h, admin, { ...valid, refund_policy: '## Refunds\n\n- within 14 days\n- [ask us](https://atlas.example/help)\n\n<script>alert(1)</script>' })
  const page = await h.request(null, { url: '/policies' })
  t.equal(page.statusCode, 200)
  t.match(page.body, /<h2>Refunds<\/h2>/)
  t.match(page.body, /<li>within 14 days<\/li>/)
  t.match(page.body, /<a href="https:\/\/atlas\.example\/help" rel="nofollow noopener">ask us<\/a>/)
  t.match(page.body, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/, 'raw HTML is text')
  t.notMatch(page.body, /<script>alert/)
  t.match(page.body, /href="mailto:help@atlas\.example"/)
})

t.test('admins see the desk navigation; readers and visitors do not', async (t) => {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  const page = await h.request(admin, { url: '/admin/settings' })
  for (const [href, label] of [['/admin', 'Dashboard'], ['/admin/orders', 'Orders'], ['/admin/content', 'Items'], ['/admin/content/new', 'Upload'], ['/admin/settings', 'Settings']]) {
    t.match(page.body, new RegExp(`<a href="${href}"[^>]*>${label}</a>`), label)
  }
  t.match(page.body, /<a href="\/admin\/settings" aria-current="page">Settings<\/a>/)
  t.equal(page.body.match(/>Upload<\/a>/g)?.length, 1, 'one Upload link')
  const reader = await h.signIn({ email: 'reader@example.com' })
  t.notMatch((await h.request(reader, { url: '/' })).body, /Creator&#39;s desk|href="\/admin/)
  t.notMatch((await h.request(null, { url: '/' })).body, /href="\/admin/)
})
