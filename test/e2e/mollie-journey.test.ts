// The store with Mollie as its payment provider, in a real browser: the app runs in demo mode
// with PAYMENT_PROVIDER=mollie and euros, so the official Mollie client talks to the demo's Mollie
// emulator, whose hosted payment page a visitor's browser opens. An admin uploads an item; one
// signed-out visitor on a phone pays, another cancels; the admin refunds the paid order and its
// download link stops working. Screens are checked and saved as in the Stripe journey, under
// test-output/screenshots-mollie/.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import t from 'tap'
import { pdfBytes } from '../helpers/fixtures.js'
import { CHROMIUM, eventually, journeyKit, PHONE, ROOT, type RunningApp } from './browser.js'
import { coverPng } from './covers.js'

const SHOTS = join(ROOT, 'test-output', 'screenshots-mollie')

const ITEM = {
  title: 'Canals of Amsterdam',
  author: 'Femke de Vries',
  from: '#7c2d12',
  to: '#f59e0b',
  motif: 'waves' as const,
  slug: 'canals-of-amsterdam',
  price: '4',
  priceLabel: '€4.00',
  description: 'Twelve walks along the grachten, with the bridges, the houseboats and where to sit.',
  pdf: pdfBytes('Canals of Amsterdam')
}

function mollieJourney (): void {
  const kit = journeyKit(t, { shots: SHOTS, env: { PAYMENT_PROVIDER: 'mollie', STORE_CURRENCY: 'eur', HOST: '127.0.0.2' } })
  const { person, screen, signIn, receipt, step, cspViolations, consoleProblems } = kit
  let app: RunningApp
  let cover: Buffer
  let desk: Page
  /** The paid order's download link, from its receipt. */
  let receiptLink = ''
  let thanksLink = ''

  t.before(async () => {
    app = kit.app
    cover = await coverPng(kit.browser, ITEM)
  })

  /** A signed-out visitor on a phone types their email on the item page and goes to Mollie's page. */
  async function buyAsGuest (page: Page, email: string): Promise<void> {
    await page.goto(`${app.url}/content/${ITEM.slug}`)
    await page.getByLabel('Your email').fill(email)
    await page.getByRole('button', { name: `Buy for ${ITEM.priceLabel}` }).click()
    await page.getByRole('heading', { name: 'Select the payment status' }).waitFor()
  }

  step('an admin signs in and uploads an item priced in euros', async (t) => {
    desk = await person()
    await signIn(desk, 'Ada Admin', 'admin@example.com')
    await desk.goto(`${app.url}/admin/content/new`)
    await desk.getByLabel('Title').fill(ITEM.title)
    await desk.getByLabel('Description').fill(ITEM.description)
    const price = desk.getByLabel(/^Price/)
    t.match(await desk.locator('label', { hasText: /^Price/ }).innerText(), /EUR/, 'the price is asked in euros')
    await price.fill(ITEM.price)
    await desk.getByLabel('PDF file').setInputFiles({ name: `${ITEM.slug}.pdf`, mimeType: 'application/pdf', buffer: ITEM.pdf })
    await desk.getByLabel('Cover image').setInputFiles({ name: `${ITEM.slug}.png`, mimeType: 'image/png', buffer: cover })
    await desk.getByRole('button', { name: 'Upload' }).click()
    await desk.waitForURL(`${app.url}/content/${ITEM.slug}`, { timeout: 20_000 })
    await desk.getByRole('heading', { name: ITEM.title }).waitFor()
    t.equal((await desk.locator('.price').first().innerText()).trim(), ITEM.priceLabel, `the item costs ${ITEM.priceLabel}`)
    await screen(t, desk, 'content-after-upload')
  })

  step('a signed-out visitor on a phone pays on Mollie\'s page, comes back to a working download and gets the receipt', async (t) => {
    const email = 'marijke@example.com'
    const page = await person(PHONE)
    const cspBefore = cspViolations.length
    await page.goto(`${app.url}/content/${ITEM.slug}`)
    t.match(await page.locator('.item-info').innerText(), /Secure checkout with Mollie/, 'the item page names Mollie')
    await screen(t, page, 'content-signed-out')

    // Mollie's page asks for no address: without one typed here the store refuses, charging nothing.
    await page.getByRole('button', { name: `Buy for ${ITEM.priceLabel}` }).click()
    t.match(page.url(), `${app.url}/content/${ITEM.slug}`, 'the browser asks for the email before leaving the store')
    t.equal(await page.getByLabel('Your email').evaluate((input) => (input as unknown as { validity: { valueMissing: boolean } }).validity.valueMissing), true,
      'the email field is required')

    await buyAsGuest(page, email)
    const mollie = new URL(page.url())
    // The demo serves the stand-in's page on the store's origin (PUBLIC_URL), under /dev/mollie/.
    t.equal(mollie.origin, new URL(app.url).origin, 'the demo\'s Mollie page is on PUBLIC_URL')
    t.match(mollie.pathname, /^\/dev\/mollie\/checkout\/tr_/, 'under /dev/mollie/')
    t.match(await page.locator('.price').innerText(), ITEM.priceLabel, 'Mollie\'s page shows the price')
    t.match(await page.locator('.merchant').innerText(), ITEM.title, 'and names the item')
    await screen(t, page, 'mollie-checkout')
    await page.getByRole('button', { name: /^Paid/ }).click()
    await page.waitForURL(`${app.url}/checkout/success?order_id=**`)
    await page.getByRole('heading', { name: 'Thank you!' }).waitFor()
    t.match(await page.locator('main').innerText(), email, 'the thank-you page says where the receipt goes')
    await screen(t, page, 'thank-you')

    const downloadLink = page.getByRole('link', { name: 'Download PDF' })
    thanksLink = new URL(await downloadLink.getAttribute('href') ?? '', app.url).pathname
    const [download] = await Promise.all([page.waitForEvent('download'), downloadLink.click()])
    t.ok((await readFile(await download.path())).equals(ITEM.pdf), 'the downloaded PDF is byte-identical to the upload')

    const mail = await receipt(page, email, ITEM.title)
    t.match(mail.text, /Amount paid: €4\.00/, 'the receipt shows the amount paid in euros')
    t.ok(mail.link, 'the receipt holds a /d/ link')
    await screen(t, page, 'dev-mail')
    receiptLink = mail.link ?? ''
    const response = await page.request.get(`${app.url}${receiptLink}`)
    t.equal(response.status(), 200, 'the receipt\'s link serves the PDF without signing in')
    t.ok((await response.body()).equals(ITEM.pdf), 'byte-identical')
    t.same(cspViolations.slice(cspBefore), [], 'no Content Security Policy violation from the item page to Mollie and back')
    await page.close()
  })

  step('a second visitor cancels on Mollie\'s page: the store says the payment did not go through and grants nothing', async (t) => {
    const email = 'pieter@example.com'
    const page = await person(PHONE)
    await buyAsGuest(page, email)
    await page.getByRole('button', { name: /^Canceled/ }).click()
    await page.waitForURL(`${app.url}/checkout/success?order_id=**`)
    await page.getByRole('heading', { name: 'Payment not completed' }).waitFor()
    t.match(await page.locator('main').innerText(), /did not go through, so nothing was charged/, 'the page says the payment did not go through')
    t.equal(await page.getByRole('link', { name: 'Download PDF' }).count(), 0, 'and offers no download')
    await screen(t, page, 'payment-canceled')

    await page.getByRole('link', { name: `Back to ${ITEM.title}` }).click()
    await page.waitForURL(`${app.url}/content/${ITEM.slug}`)
    t.equal(await page.getByRole('button', { name: `Buy for ${ITEM.priceLabel}` }).count(), 1, 'the item can still be bought')
    // A guest's address is known to the store only once a payment names it: the desk finds the
    // canceled order by its item. Two orders: the first visitor's, paid, and this one, not paid.
    const statuses = await eventually(async () => {
      await desk.goto(`${app.url}/admin/orders?q=${encodeURIComponent(ITEM.slug)}`)
      return (await desk.locator('.orders-table tbody td[data-label="Status"]').allInnerTexts()).map((s) => s.trim().toLowerCase())
    }, (list) => list.length === 2 && !list.includes('pending'))
    t.equal(statuses.length, 2, `two orders for the item (${statuses.join(', ')})`)
    t.equal(statuses.filter((s) => s === 'paid').length, 1, 'only the first visitor\'s is paid')
    t.notOk(statuses.includes('pending'), 'the canceled one is settled, not left pending')
    await desk.goto(`${app.url}/dev/mail`)
    t.equal(await desk.locator('.mail-list li', { hasText: `To ${email}` }).count(), 0, 'no receipt went to the visitor who canceled')
    await page.close()
  })

  step('the admin refunds the paid order from its page through Mollie, and its download link stops working', async (t) => {
    await desk.goto(`${app.url}/admin/orders?q=${encodeURIComponent('marijke@example.com')}`)
    await screen(t, desk, 'admin-orders')
    await desk.locator('.orders-table tbody tr', { hasText: ITEM.title }).first().getByRole('link').first().click()
    await desk.waitForURL(/\/admin\/orders\/[0-9a-f-]+$/)
    const details = await desk.locator('.details').innerText()
    t.match(details, /Paid through Mollie/, 'the order says it was paid through Mollie')
    t.match(details, /€4\.00/, 'for €4.00')
    t.match(details, /Mollie payment\s+tr_\w+/, 'and names the Mollie payment')
    const refund = desk.getByRole('link', { name: 'Refund…' })
    await refund.waitFor()
    await screen(t, desk, 'admin-order')
    await refund.click()
    // The confirm page: the whole amount is filled in.
    const confirm = desk.getByRole('button', { name: 'Refund', exact: true })
    await confirm.waitFor()
    t.equal(await desk.getByLabel(/Amount to refund/).inputValue(), '4.00', 'all that is left, filled in')
    await screen(t, desk, 'admin-refund')
    await confirm.click()
    await desk.locator('h1 .pill', { hasText: /refunded/i }).waitFor()
    await screen(t, desk, 'admin-order-refunded')

    const visitor = await person(PHONE)
    const gone = await eventually(async () => (await visitor.request.get(`${app.url}${receiptLink}`)).status(), (status) => status === 410)
    t.equal(gone, 410, 'the receipt\'s download link is gone (410)')
    t.equal((await visitor.request.get(`${app.url}${thanksLink}`)).status(), 410, 'and so is the thank-you page\'s')
    await visitor.goto(`${app.url}${receiptLink}`)
    t.match(await visitor.locator('main').innerText(), /refund/i, 'the link\'s page says the purchase was refunded')
    await screen(t, visitor, 'download-link-refunded')

    // Mollie's own dashboard shows the refund too: the paid payment, its whole amount refunded.
    await visitor.goto(`${app.url}/`)
    await visitor.getByRole('link', { name: 'Payments dashboard' }).click()
    await visitor.waitForURL(/\/dashboard\/payments/)
    const paid = visitor.locator('tbody tr', { has: visitor.locator('.pill-paid') })
    t.equal(await paid.count(), 1, 'the Mollie dashboard lists the one paid payment')
    t.equal((await paid.locator('td[data-label="Refunded"]').innerText()).trim(), ITEM.priceLabel, 'refunded in full')
    t.equal(await visitor.locator('.pill-canceled').count(), 1, 'and the canceled one')
    await screen(t, visitor, 'mollie-dashboard')
    await visitor.close()

    t.same(consoleProblems, [], 'no script or CSP error on any app page')
    t.same(cspViolations, [], 'no Content Security Policy violation anywhere in the journey')
  })
}

t.setTimeout(180_000)
if (existsSync(CHROMIUM)) {
  mollieJourney()
} else if (!['', 'false', '0'].includes(process.env.CI ?? '')) {
  t.fail(`Chromium is missing at ${CHROMIUM}: the end-to-end journey must run in CI (apt-get install chromium)`)
} else {
  t.plan(0, `Chromium is not installed at ${CHROMIUM}; the Mollie journey is skipped (it fails instead when CI is set)`)
}
