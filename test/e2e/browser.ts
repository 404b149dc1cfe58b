// What the browser journeys share: the app in demo mode as a child process, Chromium, one browser
// context per person, and the checks every screen gets (axe, sideways overflow at the person's
// width and at phone width, CSP reports, script errors), with screenshots at both widths.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import type { Test } from 'tap'
import { freePort, sleep } from '../helpers/net.js'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const AXE_PATH = createRequire(import.meta.url).resolve('axe-core/axe.min.js')
export const DESKTOP = { width: 1280, height: 800 }
export const PHONE = { width: 390, height: 844 }
const STEP_TIMEOUT = 60_000

/**
 * Reads `read()` until `done(value)` holds or `ms` pass, and returns the last value for the
 * assertion to show: on a busy machine what loads asynchronously is late, not wrong.
 */
export async function eventually<T> (read: () => Promise<T>, done: (value: T) => boolean, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms
  let value = await read()
  while (!done(value) && Date.now() < deadline) {
    await sleep(200)
    value = await read()
  }
  return value
}

export interface RunningApp {
  url: string
  output: () => string
  stop: () => Promise<void>
}

/**
 * Starts `src/server.ts` in demo mode (no Stripe, Mollie or OAuth settings) and waits for
 * /healthz; `env` adds settings such as PAYMENT_PROVIDER. HOST in `extra` is where it listens
 * and PUBLIC_URL's host (127.0.0.2 proves the demo needs no page on a loopback port of its own).
 */
export async function startApp (dir: string, extra: Record<string, string> = {}, port?: number): Promise<RunningApp> {
  port ??= await freePort()
  const host = extra.HOST ?? '127.0.0.1'
  const url = `http://${host}:${port}`
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(STRIPE_|MOLLIE_|OAUTH_|OIDC_|TAP|PAYMENT_PROVIDER$|STORE_CURRENCY$|NODE_OPTIONS$|NODE_ENV$|NODE_TLS_REJECT_UNAUTHORIZED$|ADMIN_EMAILS$|SESSION_SECRET$)/.test(key)) continue
    env[key] = value
  }
  Object.assign(env, {
    PORT: String(port),
    HOST: host,
    PUBLIC_URL: url,
    DATABASE_URL: join(dir, 'market.db'),
    CONTENT_DIR: join(dir, 'content'),
    LOG_LEVEL: 'warn',
    SHUTDOWN_GRACE_MS: '3000'
  }, extra)
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

/**
 * When JOURNEY_SCREENSHOTS names a folder (`JOURNEY_SCREENSHOTS=docs/images`), saves what the page
 * shows there as `<name>.png`, once every image in view has loaded: the README's pictures.
 */
export async function showcase (page: Page, name: string): Promise<void> {
  const folder = process.env.JOURNEY_SCREENSHOTS
  if (folder === undefined || folder === '') return
  await page.waitForLoadState('networkidle')
  // (A string: this project's types have no DOM.)
  const inViewLoaded = '[...document.images].every((img) => img.getBoundingClientRect().top > window.innerHeight || (img.complete && img.naturalWidth > 0))'
  await eventually(async () => await page.evaluate(inViewLoaded) === true, (loaded) => loaded)
  await mkdir(resolve(ROOT, folder), { recursive: true })
  await page.screenshot({ path: join(resolve(ROOT, folder), `${name}.png`) })
}

interface AxeViolation { id: string, impact: string | null, help: string, nodes: Array<{ target: string[] }> }

export interface Journey {
  /** The running app (set once the tap `before` hooks ran). */
  readonly app: RunningApp
  readonly browser: Browser
  /** Chromium's console reports of anything the CSP blocked (a form, a redirect, a script), on any origin. */
  readonly cspViolations: string[]
  /** Script errors and CSP errors on the app's own pages. */
  readonly consoleProblems: string[]
  /** A browser context is one person: the app and the demo IdP's pages share the app's origin, so cookies must not mix. */
  person: (viewport?: { width: number, height: number }) => Promise<Page>
  /** Checks the screen with axe (no serious or critical violation) and saves it at both widths. */
  screen: (tt: Test, page: Page, name: string, options?: { axe?: boolean }) => Promise<void>
  /** The path of the next numbered screenshot called `name` (for a screenshot taken by hand). */
  shotPath: (name: string) => string
  /** Tabs through the first elements of a page: each focused element must show a visible outline or ring. */
  focusIsVisible: (tt: Test, page: Page, name: string, stops?: number) => Promise<void>
  signIn: (page: Page, name: string, email: string, shotName?: string, tt?: Test) => Promise<void>
  /** Signs in by an emailed link: /login's form, the mail at /dev/mail, its link, the button. */
  signInByEmail: (page: Page, email: string) => Promise<void>
  /**
   * Waits (bounded) for the receipt to `email` naming `title` at /dev/mail, opens it like a person
   * would, and returns its text and its /d/ link (null when it has none).
   */
  receipt: (page: Page, email: string, title: string) => Promise<{ text: string, link: string | null }>
  /** One step of the journey; once a step fails, the later ones (which build on it) are reported, not run. */
  step: (name: string, fn: (t: Test) => Promise<void>) => void
}

/**
 * Sets up one journey on `t`: a temporary data directory, Chromium, the app started with `env`,
 * and screenshots under `shots` (emptied first). Registers its own `before` and `teardown`.
 */
export function journeyKit (t: Test, options: { shots: string, env?: Record<string, string> }): Journey {
  const { shots } = options
  let browser: Browser | undefined
  let app: RunningApp | undefined
  let dir: string | undefined
  const contexts: BrowserContext[] = []
  const consoleProblems: string[] = []
  const cspViolations: string[] = []
  /** Pages wider than their window, measured at each page load; each step asserts none. */
  const overflowing: string[] = []
  const overflowChecks: Array<Promise<void>> = []
  let shot = 0

  t.before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'journey-'))
    await rm(shots, { recursive: true, force: true })
    await mkdir(shots, { recursive: true })
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-quic', '--no-first-run', '--disable-sync'],
      timeout: 30_000
    })
    app = await startApp(dir, options.env)
  })

  t.teardown(async () => {
    for (const context of contexts) await context.close().catch(() => {})
    await browser?.close().catch(() => {})
    await app?.stop()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  const running = (): RunningApp => {
    if (app === undefined) throw new Error('the app is not running (the journey\'s before hook failed)')
    return app
  }

  async function person (viewport = DESKTOP): Promise<Page> {
    if (browser === undefined) throw new Error('Chromium is not running')
    const context = await browser.newContext({ viewport, acceptDownloads: true })
    contexts.push(context)
    const page = await context.newPage()
    page.setDefaultTimeout(15_000)
    const appUrl = running().url
    page.on('console', (message) => {
      // A blocked form POST or redirect is silent on the page itself: this report is the only trace.
      if (message.text().includes('Content Security Policy')) cspViolations.push(`${page.url()}: ${message.text()}`)
      // Error statuses are part of the journey (403, 404); scripts and CSP must not fail.
      if (message.type() === 'error' && page.url().startsWith(appUrl) && !message.text().startsWith('Failed to load resource')) consoleProblems.push(`${page.url()}: ${message.text()}`)
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

  function shotPath (name: string): string {
    shot += 1
    return join(shots, `${String(shot).padStart(2, '0')}-${name}`)
  }

  async function screen (tt: Test, page: Page, name: string, screenOptions: { axe?: boolean } = {}): Promise<void> {
    await page.waitForLoadState('load')
    if (screenOptions.axe !== false) await axeCheck(tt, page, name)
    const base = shotPath(name)
    const own = page.viewportSize() ?? DESKTOP
    await page.evaluate('window.scrollTo(0, 0)')
    await page.setViewportSize(DESKTOP)
    await fullShot(page, DESKTOP, `${base}-desktop.png`)
    await page.setViewportSize(PHONE)
    const width = await page.evaluate('document.documentElement.scrollWidth') as number
    tt.ok(width <= PHONE.width, `${name}: nothing sticks out sideways on a phone (page is ${width}px wide)`)
    await fullShot(page, PHONE, `${base}-phone.png`)
    await page.setViewportSize(own)
  }

  /**
   * A full-page screenshot at `viewport`'s width. Chromium does not paint a cross-origin frame
   * (the sandboxed mail preview) that is outside the window, so a page with one is shot through a
   * window as tall as the page.
   */
  async function fullShot (page: Page, viewport: { width: number, height: number }, path: string): Promise<void> {
    const tall = await page.evaluate('document.querySelector(\'iframe\') === null ? 0 : document.documentElement.scrollHeight') as number
    if (tall > viewport.height) {
      await page.setViewportSize({ width: viewport.width, height: tall })
      await page.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))')
    }
    await page.screenshot({ path, fullPage: true })
    if (tall > viewport.height) await page.setViewportSize(viewport)
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
    const url = running().url
    await page.goto(`${url}/`)
    await page.getByRole('link', { name: 'Sign in' }).click()
    // The demo has mail (its catcher), so /login offers email sign-in and the provider.
    await page.getByRole('link', { name: 'Sign in with the demo identity provider' }).click()
    await page.getByLabel('Email', { exact: true }).waitFor()
    if (tt !== undefined && shotName !== undefined) await screen(tt, page, shotName)
    await page.getByLabel('Name', { exact: true }).fill(name)
    await page.getByLabel('Email', { exact: true }).fill(email)
    await page.getByRole('button', { name: 'Continue' }).click()
    await page.waitForURL(`${url}/`)
    await page.getByRole('button', { name: 'Sign out' }).waitFor()
  }

  async function signInByEmail (page: Page, email: string): Promise<void> {
    const url = running().url
    await page.goto(`${url}/`)
    await page.getByRole('link', { name: 'Sign in' }).click()
    await page.getByLabel('Email address').fill(email)
    await page.getByRole('button', { name: 'Email me a sign-in link' }).click()
    await page.getByRole('heading', { name: 'Check your email' }).waitFor()
    const entry = page.locator('.mail-list li a').filter({ hasText: `To ${email}` }).filter({ hasText: 'Sign in to' }).first()
    await eventually(async () => {
      await page.goto(`${url}/dev/mail`)
      return await entry.count()
    }, (count) => count > 0)
    await entry.click()
    await page.waitForURL(/\/dev\/mail\?id=/)
    // The link as a phone's mail app opens it: a page with a button (a scanner's GET uses nothing).
    await page.locator('.mail-links a').filter({ hasText: '/login/email/' }).first().click()
    await page.getByRole('button', { name: 'Sign in', exact: true }).click()
    await page.waitForURL(`${url}/`)
    await page.getByRole('button', { name: 'Sign out' }).waitFor()
  }

  async function receipt (page: Page, email: string, title: string): Promise<{ text: string, link: string | null }> {
    const url = running().url
    // Newest first: the first message to this address about this item is the latest one.
    const entry = page.locator('.mail-list li a').filter({ hasText: `To ${email}` }).filter({ hasText: title }).first()
    await eventually(async () => {
      await page.goto(`${url}/dev/mail`)
      return await entry.count()
    }, (count) => count > 0)
    await entry.click()
    await page.waitForURL(/\/dev\/mail\?id=/)
    const text = await page.locator('.mail-text').innerText()
    // The HTML part, in its sandboxed frame: drawn once the frame has loaded.
    await page.frameLocator('iframe.mail-html').getByText(title).first().waitFor()
    const link = /\/d\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/.exec(text)
    return { text, link: link === null ? null : link[0] }
  }

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

  return {
    get app () { return running() },
    get browser () {
      if (browser === undefined) throw new Error('Chromium is not running')
      return browser
    },
    cspViolations,
    consoleProblems,
    person,
    screen,
    shotPath,
    focusIsVisible,
    signIn,
    signInByEmail,
    receipt,
    step
  }
}
