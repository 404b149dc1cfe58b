// The whole product in a real browser: the app runs in demo mode as a child process (embedded
// sign-in and Stripe emulator), Chromium plays an admin on a desktop and a reader on a phone, and
// every screen is checked with axe and saved as a screenshot at desktop and phone width under
// test-output/screenshots/. Every page load is checked for sideways overflow at the person's width.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { pdfBytes } from '../helpers/fixtures.js'
import { freePort, sleep } from '../helpers/net.js'
import { type CoverDesign, coverPng } from './covers.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const SHOTS = join(ROOT, 'test-output', 'screenshots')
const AXE_PATH = createRequire(import.meta.url).resolve('axe-core/axe.min.js')
const DESKTOP = { width: 1280, height: 800 }
const PHONE = { width: 390, height: 844 }
const STEP_TIMEOUT = 60_000

interface Item extends CoverDesign {
  price: string
  priceLabel: string
  description: string
  pdf: Buffer
  slug: string
}

const ITEMS: Item[] = [
  {
    title: 'The Quiet Garden',
    author: 'Mira Okafor',
    from: '#0f766e',
    to: '#84cc16',
    motif: 'rings',
    price: '5',
    priceLabel: '$5.00',
    slug: 'the-quiet-garden',
    // The long unbroken word (a pasted link) must wrap, not widen the phone page.
    description: `Forty small gardens that look after themselves.\nPlans, plant lists and a year of notes from a balcony in Lisbon.\nSeed list: https://seeds.example/${'x'.repeat(400)}`,
    // Large enough that the upload progress bar has something to show on a throttled link.
    pdf: pdfBytes('The Quiet Garden', 2_500_000)
  },
  {
    title: 'Night Trains of Europe',
    author: 'Jonas Weber',
    from: '#1e1b4b',
    to: '#7c3aed',
    motif: 'stripes',
    price: '7.50',
    priceLabel: '$7.50',
    slug: 'night-trains-of-europe',
    description: 'Every sleeper route from Lisbon to Helsinki, with timetables, fares and where to get off.',
    pdf: pdfBytes('Night Trains of Europe')
  },
  {
    title: 'Small Kitchen, Big Flavour',
    author: 'Ana Lima',
    from: '#c2410c',
    to: '#facc15',
    motif: 'dots',
    price: '12',
    priceLabel: '$12.00',
    slug: 'small-kitchen-big-flavour',
    description: 'Sixty recipes for two burners and one good knife.',
    pdf: pdfBytes('Small Kitchen, Big Flavour')
  },
  {
    title: 'A Pocket Guide to Knots',
    author: 'Sam Reyes',
    from: '#0c4a6e',
    to: '#38bdf8',
    motif: 'waves',
    price: '0',
    priceLabel: 'Free',
    slug: 'a-pocket-guide-to-knots',
    description: 'Twelve knots worth knowing, drawn step by step.',
    pdf: pdfBytes('A Pocket Guide to Knots')
  }
]
const [GARDEN, TRAINS, KITCHEN, KNOTS] = ITEMS as [Item, Item, Item, Item]

/**
 * Reads `read()` until `done(value)` holds or `ms` pass, and returns the last value for the
 * assertion to show: on a busy machine what loads asynchronously is late, not wrong.
 */
async function eventually<T> (read: () => Promise<T>, done: (value: T) => boolean, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms
  let value = await read()
  while (!done(value) && Date.now() < deadline) {
    await sleep(200)
    value = await read()
  }
  return value
}

interface RunningApp {
  url: string
  output: () => string
  stop: () => Promise<void>
}

/** Starts `src/server.ts` in demo mode (no Stripe or OAuth settings) and waits for /healthz. */
async function startApp (dir: string): Promise<RunningApp> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(STRIPE_|OAUTH_|OIDC_|TAP|NODE_OPTIONS$|NODE_ENV$|ADMIN_EMAILS$|SESSION_SECRET$)/.test(key)) continue
    env[key] = value
  }
  Object.assign(env, {
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: url,
    DATABASE_URL: join(dir, 'market.db'),
    CONTENT_DIR: join(dir, 'content'),
    LOG_LEVEL: 'warn',
    SHUTDOWN_GRACE_MS: '3000'
  })
  await mkdir(join(dir, 'content'), { recursive: true })
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  const keep = (chunk: Buffer): void => { log = (log + chunk.toString('utf8')).slice(-8000) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const killNow = (): void => { child.kill('SIGKILL') }
  process.once('exit', killNow)
  let exited = false
  const exit = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve() }))

  const deadline = Date.now() + 30_000
  for (;;) {
    if (exited) throw new Error(`the app exited before it was healthy:\n${log}`)
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })
      if (response.ok) break
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      killNow()
      throw new Error(`the app did not answer /healthz within 30 s:\n${log}`)
    }
    await sleep(200)
  }
  return {
    url,
    output: () => log,
    stop: async () => {
      process.removeListener('exit', killNow)
      if (exited) return
      child.kill('SIGTERM')
      const timer = setTimeout(killNow, 5000)
      await exit
      clearTimeout(timer)
    }
  }
}

interface AxeViolation { id: string, impact: string | null, help: string, nodes: Array<{ target: string[] }> }

function journey (): void {
  let browser: Browser
  let app: RunningApp
  let dir: string
  let emulatorUrl = ''
  const covers = new Map<string, Buffer>()
  const contexts: BrowserContext[] = []
  const consoleProblems: string[] = []
  /** Chromium's console reports of anything the CSP blocked (a form, a redirect, a script), on any origin. */
  const cspViolations: string[] = []
  /** Pages wider than their window, measured at each page load; each step asserts none. */
  const overflowing: string[] = []
  const overflowChecks: Array<Promise<void>> = []
  let shot = 0

  t.before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'journey-'))
    await rm(SHOTS, { recursive: true, force: true })
    await mkdir(SHOTS, { recursive: true })
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-quic', '--no-first-run', '--disable-sync'],
      timeout: 30_000
    })
    app = await startApp(dir)
    for (const item of ITEMS) covers.set(item.slug, await coverPng(browser, item))
  })

  t.teardown(async () => {
    for (const context of contexts) await context.close().catch(() => {})
    await browser?.close().catch(() => {})
    await app?.stop()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  /** A browser context is one person: the app and the demo IdP share the host 127.0.0.1, so cookies must not mix. */
  async function person (viewport = DESKTOP): Promise<Page> {
    const context = await browser.newContext({ viewport, acceptDownloads: true })
    contexts.push(context)
    const page = await context.newPage()
    page.setDefaultTimeout(15_000)
    page.on('console', (message) => {
      // A blocked form POST or redirect is silent on the page itself: this report is the only trace.
      if (message.text().includes('Content Security Policy')) cspViolations.push(`${page.url()}: ${message.text()}`)
      // Error statuses are part of the journey (403, 404); scripts and CSP must not fail.
      if (message.type() === 'error' && page.url().startsWith(app.url) && !message.text().startsWith('Failed to load resource')) consoleProblems.push(`${page.url()}: ${message.text()}`)
    })
    page.on('pageerror', (error) => { consoleProblems.push(`${page.url()}: ${error.message}`) })
    // Every page, not only those with a screenshot; a page already left cannot be measured (catch).
    page.on('load', () => {
      overflowChecks.push(page.evaluate('[location.href, document.documentElement.scrollWidth, window.innerWidth]').then((measured) => {
        const [url, wide, window] = measured as [string, number, number]
        if (wide > window) overflowing.push(`${url} is ${wide}px wide in a ${window}px window`)
      }, () => {}))
    })
    return page
  }

  /** Checks the screen with axe (no serious or critical violation) and saves it at both widths. */
  async function screen (tt: Test, page: Page, name: string, options: { axe?: boolean } = {}): Promise<void> {
    await page.waitForLoadState('load')
    if (options.axe !== false) await axeCheck(tt, page, name)
    shot += 1
    const base = join(SHOTS, `${String(shot).padStart(2, '0')}-${name}`)
    const own = page.viewportSize() ?? DESKTOP
    await page.evaluate('window.scrollTo(0, 0)')
    await page.setViewportSize(DESKTOP)
    await page.screenshot({ path: `${base}-desktop.png`, fullPage: true })
    await page.setViewportSize(PHONE)
    const width = await page.evaluate('document.documentElement.scrollWidth') as number
    tt.ok(width <= PHONE.width, `${name}: nothing sticks out sideways on a phone (page is ${width}px wide)`)
    await page.screenshot({ path: `${base}-phone.png`, fullPage: true })
    await page.setViewportSize(own)
  }

  async function axeCheck (tt: Test, page: Page, name: string): Promise<void> {
    const source = await readFile(AXE_PATH, 'utf8')
    // Evaluated rather than added as a <script>: the app's CSP (rightly) refuses inline scripts.
    await page.evaluate(source)
    const violations = await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((result) =>
      result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) })))`) as AxeViolation[]
    const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    tt.same(bad.map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), [],
      `${name}: no serious or critical accessibility violation`)
  }

  /** Tabs through the first elements of a page: each focused element must show a visible outline or ring. */
  async function focusIsVisible (tt: Test, page: Page, name: string, stops = 6): Promise<void> {
    await page.evaluate('document.activeElement?.blur(); window.scrollTo(0, 0)')
    const invisible: string[] = []
    for (let i = 0; i < stops; i++) {
      await page.keyboard.press('Tab')
      // In-page code is a string: the project's TypeScript has no DOM types.
      const focus = await page.evaluate(`(() => {
        const el = document.activeElement
        if (el === null || el === document.body) return null
        const style = getComputedStyle(el)
        const visible = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2) || style.boxShadow !== 'none'
        return { visible, what: el.tagName.toLowerCase() + ' "' + ((el.textContent || '').trim().slice(0, 30) || el.getAttribute('name') || '') + '"' }
      })()`) as { visible: boolean, what: string } | null
      if (focus !== null && !focus.visible) invisible.push(focus.what)
    }
    tt.same(invisible, [], `${name}: keyboard focus is visible on every stop`)
  }

  async function signIn (page: Page, name: string, email: string, shotName?: string, tt?: Test): Promise<void> {
    await page.goto(`${app.url}/`)
    await page.getByRole('link', { name: 'Sign in' }).click()
    await page.getByLabel('Email', { exact: true }).waitFor()
    if (tt !== undefined && shotName !== undefined) await screen(tt, page, shotName)
    await page.getByLabel('Name', { exact: true }).fill(name)
    await page.getByLabel('Email', { exact: true }).fill(email)
    await page.getByRole('button', { name: 'Continue' }).click()
    await page.waitForURL(`${app.url}/`)
    await page.getByRole('button', { name: 'Sign out' }).waitFor()
  }

  async function fillUploadForm (page: Page, fields: { title: string, description: string, price: string, file: Buffer, fileName: string, preview: Buffer, previewName: string, previewType: string }): Promise<void> {
    await page.getByLabel('Title').fill(fields.title)
    await page.getByLabel('Description').fill(fields.description)
    await page.getByLabel(/^Price/).fill(fields.price)
    await page.getByLabel('PDF file').setInputFiles({ name: fields.fileName, mimeType: 'application/pdf', buffer: fields.file })
    await page.getByLabel('Cover image').setInputFiles({ name: fields.previewName, mimeType: fields.previewType, buffer: fields.preview })
  }

  const itemFields = (item: Item): Parameters<typeof fillUploadForm>[1] => ({
    title: item.title,
    description: item.description,
    price: item.price,
    file: item.pdf,
    fileName: `${item.slug}.pdf`,
    preview: covers.get(item.slug)!,
    previewName: `${item.slug}.png`,
    previewType: 'image/png'
  })

  async function payByCard (page: Page, card: string): Promise<void> {
    await page.getByRole('radio', { name: 'Card', exact: true }).check()
    await page.getByLabel('Card number').fill(card)
    await page.getByLabel('Expiry (MM / YY)').fill('12 / 34')
    await page.getByLabel('CVC').fill('123')
    await page.getByLabel('Name on card').fill('Grace Hopper')
  }

  async function openCheckout (page: Page, item: Item): Promise<void> {
    await page.goto(`${app.url}/content/${item.slug}`)
    await page.getByRole('button', { name: `Buy for ${item.priceLabel}` }).click()
    await page.waitForURL(/\/pay\//)
    if (emulatorUrl === '') emulatorUrl = new URL(page.url()).origin
  }

  async function libraryTitles (page: Page): Promise<string[]> {
    await page.goto(`${app.url}/library`)
    // The items the reader can download; refunded purchases stay listed but are marked apart.
    return await page.locator('.library-row:not(.refunded) .library-title').allTextContents()
  }

  /** Polls the library (bounded) until `want(titles)` holds; returns the last titles seen. */
  async function waitForLibrary (page: Page, want: (titles: string[]) => boolean): Promise<string[]> {
    return await eventually(async () => await libraryTitles(page), want)
  }

  /** One step of the journey; once a step fails, the later ones (which build on it) are reported, not run. */
  let failedStep = ''
  function step (name: string, fn: (t: Test) => Promise<void>): void {
    t.test(name, { timeout: STEP_TIMEOUT }, async (t) => {
      if (failedStep !== '') {
        t.fail(`not run: the earlier step "${failedStep}" failed`)
        return
      }
      try {
        await fn(t)
      } catch (error) {
        failedStep = name
        // A form or redirect the CSP blocked leaves the page where it was: name that, not only the timeout.
        t.same(cspViolations, [], 'no Content Security Policy violation in the console')
        throw error
      }
      await Promise.all(overflowChecks.splice(0))
      t.same(overflowing.splice(0), [], 'no page loaded in this step is wider than its window')
      if (!t.passing()) failedStep = name
    })
  }

  let readerPage: Page

  step('an admin signs in, uploads PDFs with covers through the form and sees them in the catalogue', async (t) => {
    const page = await person()
    await page.goto(`${app.url}/`)
    await page.getByRole('heading', { name: 'Nothing here yet' }).waitFor()
    await screen(t, page, 'catalogue-empty')
    await focusIsVisible(t, page, 'catalogue')

    await signIn(page, 'Ada Lovelace', 'admin@example.com', 'idp-sign-in', t)
    await screen(t, page, 'catalogue-empty-admin')
    await page.getByRole('link', { name: 'Upload', exact: true }).click()
    await page.waitForURL(`${app.url}/admin/content/new`)
    await screen(t, page, 'upload-form')
    await focusIsVisible(t, page, 'upload form', 10)

    // A slow uplink, so the progress bar is seen moving before the upload lands.
    const cdp = await page.context().newCDPSession(page)
    await cdp.send('Network.enable')
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 1_000_000 })
    await fillUploadForm(page, itemFields(GARDEN))
    await page.getByRole('button', { name: 'Upload' }).click()
    const bar = page.locator('#upload-bar')
    await bar.waitFor({ state: 'visible', timeout: 5000 })
    let midway = 0
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline && page.url().endsWith('/admin/content/new')) {
      const value = await page.evaluate("document.getElementById('upload-bar')?.value ?? 0").catch(() => 0) as number
      if (value > 0 && value < 100) {
        midway = value
        break
      }
      await sleep(50)
    }
    t.ok(midway > 0 && midway < 100, `the progress bar shows the upload under way (saw ${midway}%)`)
    if (midway > 0) {
      await page.evaluate('window.scrollTo(0, 0)')
      shot += 1
      await page.screenshot({ path: join(SHOTS, `${String(shot).padStart(2, '0')}-upload-progress-desktop.png`), fullPage: true })
    }
    await page.waitForURL(`${app.url}/content/${GARDEN.slug}`, { timeout: 20_000 })
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
    await cdp.detach()
    await page.getByRole('heading', { name: GARDEN.title }).waitFor()
    t.match(await page.getByRole('status').textContent(), 'is now in the catalogue', 'the new item\'s page confirms the upload')
    await screen(t, page, 'content-after-upload')

    // The server checks what the browser cannot: a file that is not a PDF, a cover that is not an image.
    await page.goto(`${app.url}/admin/content/new`)
    await fillUploadForm(page, { ...itemFields(TRAINS), price: '20000', file: Buffer.from('just some text, not a PDF'), preview: TRAINS.pdf, previewType: 'image/png' })
    await page.getByRole('button', { name: 'Upload' }).click()
    await page.getByText('Please fix the following').waitFor()
    const problems = await page.locator('.problem').allTextContents()
    t.ok(problems.some((p) => /price/i.test(p)), `the price problem is shown next to its field (${problems.join(' | ')})`)
    await screen(t, page, 'upload-form-problems')
    t.equal(await page.getByLabel('Title').inputValue(), TRAINS.title, 'the typed title is kept')

    // Good files with a bad price: after the refusal the files stay chosen and the messages are
    // in view, so fixing the price alone uploads.
    await fillUploadForm(page, { ...itemFields(TRAINS), price: '0.10' })
    await page.evaluate('window.scrollTo(0, document.body.scrollHeight)')
    await page.getByRole('button', { name: 'Upload' }).click()
    await page.locator('#upload-problems', { hasText: 'lowest price' }).waitFor()
    const chosen = await page.evaluate("[...document.querySelectorAll('input[type=file]')].map((input) => input.files.length)")
    t.same(chosen, [1, 1], 'the valid PDF and cover are still chosen')
    const summaryTop = await page.locator('#upload-problems').evaluate((el) => el.getBoundingClientRect().top)
    t.ok(summaryTop >= -2 && summaryTop < PHONE.height, `the page shows the messages, not the bottom of the form (top at ${summaryTop}px)`)
    await page.getByLabel(/^Price/).fill(TRAINS.price)
    await page.getByRole('button', { name: 'Upload' }).click()
    await page.waitForURL(`${app.url}/content/${TRAINS.slug}`, { timeout: 20_000 })

    for (const item of [KITCHEN, KNOTS]) {
      await page.goto(`${app.url}/admin/content/new`)
      await fillUploadForm(page, itemFields(item))
      await page.getByRole('button', { name: 'Upload' }).click()
      await page.waitForURL(`${app.url}/content/${item.slug}`, { timeout: 20_000 })
    }

    await page.goto(`${app.url}/`)
    const cards = page.locator('.card')
    t.equal(await cards.count(), ITEMS.length, 'every upload is in the catalogue')
    for (const item of ITEMS) {
      const card = cards.filter({ hasText: item.title })
      t.match(await card.textContent(), item.priceLabel, `${item.title} shows its price ${item.priceLabel}`)
      // The covers are lazy: fetched once near the viewport, decoded some time after.
      const cover = card.locator('img')
      await cover.scrollIntoViewIfNeeded()
      const width = await eventually(async () => await cover.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth), (w) => w > 0)
      t.equal(width, 600, `${item.title} shows its cover`)
    }
    await screen(t, page, 'catalogue')
  })

  step('a signed-out reader on a phone buys as a guest, gets the receipt by mail, downloads by its link, and finds the purchase in the library after signing in', async (t) => {
    const page = readerPage = await person(PHONE)
    const cspBefore = cspViolations.length
    await page.goto(`${app.url}/`)
    await screen(t, page, 'catalogue-signed-out')
    await page.getByRole('link', { name: new RegExp(GARDEN.title) }).click()
    await page.waitForURL(`${app.url}/content/${GARDEN.slug}`)
    await screen(t, page, 'content-signed-out')
    await focusIsVisible(t, page, 'content page', 8)

    // Guest checkout (the default): Buy goes straight to Checkout, which asks for the email.
    await page.getByRole('button', { name: `Buy for ${GARDEN.priceLabel}` }).click()
    await page.waitForURL(/\/pay\//)
    emulatorUrl = new URL(page.url()).origin
    await page.getByLabel('Email', { exact: true }).fill('grace@example.com')
    await payByCard(page, '4242 4242 4242 4242')
    await screen(t, page, 'checkout')
    await page.getByRole('button', { name: `Pay ${GARDEN.priceLabel}` }).click()
    await page.waitForURL(/\/checkout\/success\?session_id=/)
    await page.getByRole('heading', { name: 'Thank you!' }).waitFor()
    await screen(t, page, 'thank-you')

    // The thank-you page in this browser downloads by the signed link.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: /Download/ }).first().click()
    ])
    t.ok((await readFile(await download.path())).equals(GARDEN.pdf), 'the downloaded PDF is byte-identical to the upload')
    t.equal(download.suggestedFilename().endsWith('.pdf'), true, `the download is named like a PDF (${download.suggestedFilename()})`)

    // The receipt, caught by the demo's SMTP server, carries the same kind of link.
    const mail = await eventually(async () => {
      await page.goto(`${app.url}/dev/mail`)
      return await page.locator('body').innerText()
    }, (text) => text.includes(GARDEN.title) && text.includes('grace@example.com'))
    t.match(mail, GARDEN.title, 'the receipt names the item')
    await screen(t, page, 'dev-mail')
    const receiptText = await page.evaluate('document.body.innerHTML') as string
    const link = /\/d\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/.exec(receiptText.replace(/&amp;/g, '&'))
    t.ok(link, 'the receipt holds a /d/ link')
    if (link !== null) {
      const response = await page.request.get(`${app.url}${link[0]}`)
      t.equal(response.status(), 200, 'the link serves the PDF without signing in')
      t.ok((await response.body()).equals(GARDEN.pdf), 'byte-identical')
    }

    // Later, signing in with the same verified email puts the purchase in the library.
    await signIn(page, 'Grace Hopper', 'grace@example.com')
    t.same(await libraryTitles(page), [GARDEN.title], 'the library lists the guest purchase')
    await screen(t, page, 'library')
    await focusIsVisible(t, page, 'library', 8)
    t.same(cspViolations.slice(cspBefore), [], 'no Content Security Policy violation in the console, from the catalogue to the library')
  })

  step('a declined card shows a message and grants nothing', async (t) => {
    const page = readerPage
    await openCheckout(page, TRAINS)
    await payByCard(page, '4000 0000 0000 9995')
    await page.getByRole('button', { name: `Pay ${TRAINS.priceLabel}` }).click()
    const alert = page.getByRole('alert')
    await alert.waitFor()
    t.match(await alert.textContent(), /declined/i, 'the checkout page says the card was declined')
    t.match(page.url(), /\/pay\//, 'the buyer stays on the checkout page')
    await screen(t, page, 'checkout-declined')

    await page.getByRole('link', { name: '← Back' }).click()
    await page.waitForURL(`${app.url}/checkout/cancel**`)
    await page.getByRole('heading', { name: 'Checkout cancelled' }).waitFor()
    await screen(t, page, 'checkout-cancelled')

    t.notOk((await libraryTitles(page)).includes(TRAINS.title), 'the library does not list the declined item')
    await page.goto(`${app.url}/content/${TRAINS.slug}`)
    t.equal(await page.getByRole('link', { name: 'Download PDF' }).count(), 0, 'the item page offers no download')
    const response = await page.request.get(`${app.url}/content/${TRAINS.slug}/download`, { maxRedirects: 0 })
    t.equal(response.status(), 403, 'the download is refused')
    await page.goto(`${app.url}/content/${TRAINS.slug}/download`).catch(() => {})
    await page.getByText('403').first().waitFor()
    await screen(t, page, 'error-403-download')
  })

  step('a reader who pays and closes the tab before the redirect gets the PDF from the webhook alone', async (t) => {
    const context = readerPage.context()
    const tab = await context.newPage()
    await openCheckout(tab, TRAINS)
    // The redirect back to the shop never arrives: the tab is gone.
    await tab.route(`${app.url}/checkout/success**`, async (route) => { await route.abort() })
    await payByCard(tab, '4242 4242 4242 4242')
    await Promise.all([
      tab.waitForRequest((request) => request.url().startsWith(`${app.url}/checkout/success`)),
      tab.getByRole('button', { name: `Pay ${TRAINS.priceLabel}` }).click()
    ])
    await tab.close()

    const fresh = await context.newPage()
    const titles = await waitForLibrary(fresh, (list) => list.includes(TRAINS.title))
    t.ok(titles.includes(TRAINS.title), `the webhook put ${TRAINS.title} in the library (library: ${titles.join(', ')})`)
    await fresh.close()
  })

  step('a bank transfer shows the processing page, which turns into the thank-you page by itself', async (t) => {
    const page = readerPage
    await openCheckout(page, KITCHEN)
    await page.getByRole('radio', { name: /Bank transfer/ }).check()
    await screen(t, page, 'checkout-bank-transfer')
    await page.getByRole('button', { name: `Pay ${KITCHEN.priceLabel}` }).click()
    await page.waitForURL(/\/checkout\/success\?session_id=/)
    await page.getByRole('heading', { name: 'Payment processing' }).waitFor({ timeout: 3000 })
    // Checked at once: the page reloads itself after 3 s.
    await screen(t, page, 'processing')
    await page.getByRole('heading', { name: 'Thank you!' }).waitFor({ timeout: 20_000 })
    t.pass('the processing page became the thank-you page without a click')
    t.ok((await libraryTitles(page)).includes(KITCHEN.title), 'the library lists the item paid by bank transfer')
  })

  step('a refund from the emulator\'s payments page takes the download away; the library marks it refunded', async (t) => {
    const page = readerPage
    await page.goto(`${app.url}/`)
    await page.getByRole('link', { name: 'Payments dashboard' }).click()
    await page.waitForURL(/\/payments$/)
    await screen(t, page, 'emulator-payments')
    const row = page.locator('tr', { hasText: GARDEN.title })
    t.equal(await row.count(), 1, 'the payments page lists the card payment once')
    await row.getByRole('button', { name: 'Refund' }).click()
    // The page's address does not change: wait for the row to say so.
    await row.locator('.pill-refunded').waitFor()
    await screen(t, page, 'emulator-payments-refunded')

    const titles = await waitForLibrary(page, (list) => !list.includes(GARDEN.title))
    t.notOk(titles.includes(GARDEN.title), `the refunded item is no longer downloadable in the library (library: ${titles.join(', ')})`)
    const refunded = page.locator('.library-row.refunded', { hasText: GARDEN.title })
    t.equal(await refunded.count(), 1, 'it stays listed, marked refunded')
    t.match(await refunded.textContent(), /Refunded/)
    t.equal(await refunded.getByRole('link', { name: 'Download' }).count(), 0, 'without a download link')
    await screen(t, page, 'library-after-refund')
    await page.goto(`${app.url}/content/${GARDEN.slug}`)
    t.equal(await page.getByRole('button', { name: `Buy for ${GARDEN.priceLabel}` }).count(), 1, 'the item can be bought again')
  })

  step('the creator edits an item, ships a new version, unpublishes and republishes one, refunds an order from its page and names the store', async (t) => {
    const desk = await person(PHONE)
    await signIn(desk, 'Ada Admin', 'admin@example.com')
    await desk.goto(`${app.url}/admin`)
    await desk.getByRole('heading', { name: /dashboard/i }).first().waitFor()
    await screen(t, desk, 'admin-dashboard')

    // Items: edit the train guide's description and ship version 2 with a changelog.
    await desk.goto(`${app.url}/admin/content`)
    await screen(t, desk, 'admin-items')
    await desk.getByRole('link', { name: `Edit ${TRAINS.title}` }).click()
    await desk.getByLabel('Description').fill(`${TRAINS.description}\n\nNow with **the Balkans**.`)
    await desk.getByLabel('New PDF').setInputFiles({ name: 'trains-v2.pdf', mimeType: 'application/pdf', buffer: pdfBytes('Night Trains of Europe, second edition') })
    await desk.getByLabel('What changed').fill('Added the Balkan sleeper routes')
    await screen(t, desk, 'admin-edit')
    await desk.getByRole('button', { name: 'Save changes' }).click()
    await desk.waitForURL(`${app.url}/content/${TRAINS.slug}`)
    await desk.getByText('Added the Balkan sleeper routes').first().waitFor()
    t.equal(await desk.locator('.description strong', { hasText: 'the Balkans' }).count(), 1, 'the description is rendered from Markdown')
    await screen(t, desk, 'content-versions')

    // The reader who owns it sees the update in their library.
    const titles = await waitForLibrary(readerPage, (list) => list.includes(TRAINS.title))
    t.ok(titles.includes(TRAINS.title))
    t.equal(await readerPage.locator('.library-row', { hasText: TRAINS.title }).getByText('Updated').count(), 1, 'the library marks the item updated')
    await screen(t, readerPage, 'library-updated')

    // Unpublish the free knots guide: gone from the catalogue for visitors.
    await desk.goto(`${app.url}/admin/content`)
    await desk.getByRole('button', { name: `Unpublish ${KNOTS.title}` }).click()
    await desk.getByRole('button', { name: `Publish ${KNOTS.title}` }).waitFor()
    const visitor = await person(PHONE)
    await visitor.goto(`${app.url}/`)
    t.equal(await visitor.getByRole('link', { name: new RegExp(KNOTS.title) }).count(), 0, 'an unpublished item is not in the catalogue')
    const hidden = await visitor.goto(`${app.url}/content/${KNOTS.slug}`)
    t.equal(hidden?.status(), 404, 'and its page is not found for a visitor')
    await desk.getByRole('button', { name: `Publish ${KNOTS.title}` }).click()
    await desk.getByRole('button', { name: `Unpublish ${KNOTS.title}` }).waitFor()

    // Orders: refund the kitchen book's bank transfer from its order page.
    await desk.goto(`${app.url}/admin/orders?status=paid`)
    await screen(t, desk, 'admin-orders')
    await desk.locator('tr', { hasText: KITCHEN.title }).first().getByRole('link').first().click()
    await desk.getByRole('button', { name: /^Refund / }).waitFor()
    await screen(t, desk, 'admin-order')
    await desk.getByRole('button', { name: /^Refund / }).click()
    await desk.locator('h1 .pill', { hasText: /refunded/i }).waitFor()
    await screen(t, desk, 'admin-order-refunded')
    const after = await waitForLibrary(readerPage, (list) => !list.includes(KITCHEN.title))
    t.notOk(after.includes(KITCHEN.title), 'the refund took the download away at once')

    // Settings: the store's own name, tagline, contact and refund policy.
    await desk.goto(`${app.url}/admin/settings`)
    await desk.getByLabel('Store name').fill('Night Shelf')
    await desk.getByLabel('Tagline (optional)').fill('Guides for slow travel and small kitchens')
    await desk.getByLabel('Contact email (optional)').fill('hello@nightshelf.example')
    await desk.getByLabel('Refund policy (optional)').fill('## Refunds\n\nWithin **14 days**, no questions asked. Write to us.')
    await screen(t, desk, 'admin-settings')
    await desk.getByRole('button', { name: 'Save settings' }).click()
    await desk.locator('.brand-name', { hasText: 'Night Shelf' }).waitFor()
    await visitor.goto(`${app.url}/policies`)
    t.match(await visitor.title(), /Night Shelf/, 'the store name is in every page title')
    t.equal(await visitor.locator('strong', { hasText: '14 days' }).count(), 1, 'the policy is rendered from Markdown')
    t.equal(await visitor.locator('a[href="mailto:hello@nightshelf.example"]').count() > 0, true, 'the contact is in the footer')
    await screen(t, visitor, 'policies')
    await desk.close()
    await visitor.close()
  })

  step('free items, error pages and the admin area read well', async (t) => {
    const page = readerPage
    await page.goto(`${app.url}/content/${KNOTS.slug}`)
    await page.getByRole('link', { name: 'Download PDF' }).waitFor()
    await screen(t, page, 'content-free')

    const notFound = await page.goto(`${app.url}/content/no-such-pdf`)
    t.equal(notFound?.status(), 404)
    await screen(t, page, 'error-404')

    const forbidden = await page.goto(`${app.url}/admin/content/new`)
    t.equal(forbidden?.status(), 403, 'a reader may not upload')
    await screen(t, page, 'error-403-admin')

    const newcomer = await person(PHONE)
    await signIn(newcomer, 'Alan Turing', 'alan@example.com')
    await newcomer.goto(`${app.url}/library`)
    await newcomer.getByRole('heading', { name: 'No purchases yet' }).waitFor()
    await screen(t, newcomer, 'library-empty')

    t.same(consoleProblems, [], 'no script or CSP error on any app page')
    t.same(cspViolations, [], 'no Content Security Policy violation anywhere in the journey')
  })
}

t.setTimeout(240_000)
if (existsSync(CHROMIUM)) {
  journey()
} else if (!['', 'false', '0'].includes(process.env.CI ?? '')) {
  // In CI a skip would pass for a run: .ci/run treats CI the same way (set, and not false or 0).
  t.fail(`Chromium is missing at ${CHROMIUM}: the end-to-end journey must run in CI (apt-get install chromium)`)
} else {
  t.plan(0, `Chromium is not installed at ${CHROMIUM}; the end-to-end journey is skipped (it fails instead when CI is set)`)
}
