// Demo mode reached at an address that is not the server's loopback: the app listens on 127.0.0.2
// with PUBLIC_URL there, and a browser (fetch with a cookie jar, redirects followed by hand) signs
// in at the demo identity provider, opens the banner's links, buys at the Stripe emulator's
// checkout page and, after a restart, refunds that order. Every Location header and every link
// or form it meets must stay on PUBLIC_URL's origin.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { type RunningApp, startApp, eventually } from '../e2e/browser.js'
import { CookieJar, csrfFrom, uploadForm } from '../helpers/build.js'
import { freePort } from '../helpers/net.js'

const HOST = '127.0.0.2'

/** A browser's visits: each URL it is sent to (Location, href, form action) must be on `origin`. */
class Visitor {
  readonly jar = new CookieJar()
  readonly seen: string[] = []
  constructor (private readonly tt: Test, readonly origin: string) {}

  /** Resolves a URL met on a page or in a Location header and checks its origin. */
  follow (raw: string, base: string, what: string): string {
    const url = new URL(raw, base)
    this.seen.push(`${what}: ${url.href}`)
    this.tt.equal(url.origin, this.origin, `${what} (${raw}) stays on PUBLIC_URL`)
    return url.href
  }

  async send (url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers)
    if (this.jar.cookies.size > 0) headers.set('cookie', this.jar.header)
    const response = await fetch(url, { ...init, headers, redirect: 'manual' })
    this.jar.update(response)
    return response
  }

  /** The redirect's target, checked. */
  location (response: Response, from: string, what: string): string {
    const location = response.headers.get('location')
    this.tt.ok(location, `${what} redirects (status ${response.status})`)
    return this.follow(location ?? '', from, `${what}: Location`)
  }

  /** Every link and form target of a page, checked (in-page anchors aside). */
  links (html: string, base: string, what: string): void {
    for (const [, attr, value] of html.matchAll(/\s(href|action)="([^"]*)"/g)) {
      if (value!.startsWith('#')) continue
      this.follow(value!.replaceAll('&amp;', '&'), base, `${what}: ${attr!}`)
    }
  }
}

/** The hidden and filled inputs of the first form whose action matches, as a browser would send them. */
function formFields (html: string, action: RegExp): { action: string, fields: URLSearchParams } {
  const form = [...html.matchAll(/<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)].find(([, a]) => action.test(a!))
  if (form === undefined) throw new Error(`no form posting to ${String(action)} in:\n${html.slice(0, 2000)}`)
  const fields = new URLSearchParams()
  for (const [input] of form[2]!.matchAll(/<input[^>]*>/g)) {
    const name = /name="([^"]*)"/.exec(input)?.[1]
    const value = /value="([^"]*)"/.exec(input)?.[1] ?? ''
    const type = /type="([^"]*)"/.exec(input)?.[1] ?? 'text'
    if (name === undefined || (type === 'checkbox' && !input.includes('checked'))) continue
    fields.set(name, value.replaceAll('&amp;', '&').replaceAll('&quot;', '"'))
  }
  return { action: form[1]!.replaceAll('&amp;', '&'), fields }
}

/** /login through the demo identity provider's page and its form, back to the app, signed in. */
async function signIn (tt: Test, v: Visitor, email: string): Promise<void> {
  // Demo mode has mail (the catcher), so /login is a page offering email and the provider.
  const page = `${v.origin}/login`
  const loginPage = await v.send(page)
  tt.equal(loginPage.status, 200, '/login is a page')
  tt.match(await loginPage.text(), 'href="/login/oidc', 'it offers the provider')
  const login = `${v.origin}/login/oidc`
  const toIdp = v.location(await v.send(login), login, 'GET /login/oidc')
  const idpPage = await v.send(toIdp)
  tt.equal(idpPage.status, 200, 'the sign-in page answers on the app\'s origin')
  const html = await idpPage.text()
  v.links(html, toIdp, 'sign-in page')
  const { action, fields } = formFields(html, /authorize/)
  fields.set('login_email', email)
  fields.set('login_name', 'Ada')
  fields.set('login_verified', 'true')
  const submit = `${v.follow(action, toIdp, 'sign-in form')}?${fields.toString()}`
  const callback = v.location(await v.send(submit), submit, 'the sign-in form')
  const home = v.location(await v.send(callback), callback, 'GET /login/callback')
  tt.equal((await v.send(home)).status, 200, 'signed in, the app\'s page answers')
}

async function csrf (v: Visitor): Promise<string> {
  return csrfFrom(await (await v.send(`${v.origin}/library`)).text(), '/library')
}

t.test('demo mode on 127.0.0.2 keeps every redirect and link a browser follows on PUBLIC_URL, and a restart keeps the emulator\'s payments', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'demo-origin-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const port = await freePort()
  let app: RunningApp = await startApp(dir, { HOST }, port)
  t.teardown(async () => { await app.stop() })
  t.equal(app.url, `http://${HOST}:${port}`)
  const admin = new Visitor(t, app.url)

  await signIn(t, admin, 'admin@example.com')

  // The banner's links: the payments dashboard and the mail, both pages of the app's origin.
  const home = await (await admin.send(`${app.url}/`)).text()
  const dashboard = /href="([^"]*)">Payments dashboard</.exec(home)?.[1]
  t.equal(dashboard, '/dev/stripe/payments', 'the banner links to the Stripe dashboard under /dev/stripe/')
  admin.links(home, `${app.url}/`, 'the home page')
  for (const path of [dashboard ?? '/dev/stripe/payments', '/dev/mail']) {
    const page = await admin.send(admin.follow(path, app.url, `banner link ${path}`))
    t.equal(page.status, 200, `${path} answers`)
    admin.links(await page.text(), `${app.url}${path}`, path)
  }

  // An item to buy, then the checkout: the app's redirect and the emulator's page and form.
  const { body, contentType } = await uploadForm({ csrf: await csrf(admin), title: 'One Origin' })
  const uploaded = await admin.send(`${app.url}/admin/content`, { method: 'POST', headers: { 'content-type': contentType }, body })
  t.equal(uploaded.status, 303, 'the item is uploaded')
  const started = await admin.send(`${app.url}/checkout/one-origin`, { method: 'POST', body: new URLSearchParams({ _csrf: await csrf(admin) }) })
  t.equal(started.status, 303, 'checkout starts')
  const payPage = admin.location(started, app.url, 'POST /checkout')
  t.match(payPage, `${app.url}/dev/stripe/pay/cs_test_`, 'the checkout page is under /dev/stripe/')
  const checkoutHtml = await (await admin.send(payPage)).text()
  admin.links(checkoutHtml, payPage, 'the checkout page')
  const { action, fields } = formFields(checkoutHtml, /\/pay\/[^/]+$/)
  fields.set('card_number', '4242 4242 4242 4242'.replaceAll(' ', ''))
  fields.set('expiry', '12/34')
  fields.set('cvc', '123')
  fields.set('name', 'Ada')
  const paid = await admin.send(admin.follow(action, payPage, 'the checkout form'), { method: 'POST', body: fields })
  admin.location(paid, payPage, 'paying')
  const library = await eventually(async () => await (await admin.send(`${app.url}/library`)).text(), (html) => html.includes('One Origin'))
  t.match(library, 'One Origin', 'the webhook arrived: the item is in the library')
  const saved = JSON.parse(await readFile(join(dir, 'demo-stripe.json'), 'utf8')) as { state: { sessions: Array<{ payment_status: string }> } }
  t.same(saved.state.sessions.map((s) => s.payment_status), ['paid'], 'the emulator\'s payments are written beside the database')

  const orders = await (await admin.send(`${app.url}/admin/orders`)).text()
  const orderId = /href="\/admin\/orders\/([^"/?#]+)"/.exec(orders)?.[1]
  t.ok(orderId, 'the orders page lists the order')

  // A restart: the emulator still knows the payment, so the order refunds.
  await app.stop()
  app = await startApp(dir, { HOST }, port)
  const again = new Visitor(t, app.url)
  await signIn(t, again, 'admin@example.com')
  const refundPath = `${app.url}/admin/orders/${orderId!}/refund`
  const refundForm = formFields(await (await again.send(refundPath)).text(), /\/refund$/)
  const refunded = await again.send(refundPath, { method: 'POST', body: refundForm.fields })
  t.equal(refunded.status, 303, `the refund of an order paid before the restart goes through (${refunded.status === 303 ? '' : (await refunded.text()).replace(/\s+/g, ' ').slice(0, 400)})`)
  const order = await (await again.send(again.location(refunded, refundPath, 'the refund'))).text()
  t.match(order, /refunded/i, 'the order page says refunded')
  t.notMatch(app.output(), 'Try again in a moment')
})

t.test('the Mollie demo\'s console names Mollie and MOLLIE_API_KEY, not the Stripe test card', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'demo-mollie-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const app = await startApp(dir, { HOST, PAYMENT_PROVIDER: 'mollie', STORE_CURRENCY: 'eur' })
  t.teardown(async () => { await app.stop() })
  const output = await eventually(async () => app.output(), (text) => text.includes('is running'), 5000)
  t.match(output, /DEMO MODE: sign-in, Mollie and mail are local stand-ins; to go live, set .*MOLLIE_API_KEY/)
  t.match(output, 'Pay with Mollie\'s test page')
  t.notMatch(output, '4242')
  t.notMatch(output, 'STRIPE_')
  const home = await (await fetch(`${app.url}/`)).text()
  t.match(home, 'href="/dev/mollie/dashboard/payments"', 'the banner links to the Mollie dashboard on the app\'s origin')
  t.equal((await fetch(`${app.url}/dev/mollie/dashboard/payments`)).status, 200)
})
