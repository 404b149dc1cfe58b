// Look inside and the free sample in a real browser: the app runs in demo mode as a child process
// (PDF jobs in the background, as in production), an admin uploads a 6-page PDF showing 3 pages
// and offering a 2-page sample, and signed-out visitors at desktop and phone width wait for the
// page images (made by a job after the upload was answered), scroll the strip with the keyboard
// and download the sample. Screens are checked and saved as in the other journeys, under
// test-output/screenshots-look-inside/ (each journey empties its own folder when it starts).
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { makePdf } from '../helpers/pdfs.js'
import { CHROMIUM, DESKTOP, eventually, journeyKit, PHONE, ROOT, type RunningApp } from './browser.js'
import { coverPng } from './covers.js'

const SHOTS = join(ROOT, 'test-output', 'screenshots-look-inside')

const ITEM = {
  title: 'Birds of the Estuary',
  author: 'Ines Carvalho',
  from: '#14532d',
  to: '#a3e635',
  motif: 'waves' as const,
  slug: 'birds-of-the-estuary',
  description: 'Sixty birds of the Tagus estuary, when to see them and where to stand.'
}

// In-page code is a string: the project's TypeScript has no DOM types.
const STRIP = '.page-strip'
const stripState = `(() => {
  const strip = document.querySelector('${STRIP}')
  return { scrollLeft: strip.scrollLeft, scrollWidth: strip.scrollWidth, clientWidth: strip.clientWidth }
})()`

function lookInside (): void {
  const kit = journeyKit(t, { shots: SHOTS })
  const { person, screen, shotPath, signIn, step, cspViolations, consoleProblems } = kit
  let app: RunningApp

  t.before(() => { app = kit.app })

  step('an admin uploads a 6-page PDF that shows 3 pages and offers a 2-page sample', async (t) => {
    const page = await person()
    await signIn(page, 'Ada Lovelace', 'admin@example.com')
    await page.goto(`${app.url}/admin/content/new`)
    await page.getByLabel('Title').fill(ITEM.title)
    await page.getByLabel('Description').fill(ITEM.description)
    await page.getByLabel(/^Price/).fill('6')
    await page.getByLabel('PDF file').setInputFiles({ name: `${ITEM.slug}.pdf`, mimeType: 'application/pdf', buffer: Buffer.from(await makePdf({ pages: 6, title: ITEM.title })) })
    await page.getByLabel('Cover image').setInputFiles({ name: `${ITEM.slug}.png`, mimeType: 'image/png', buffer: await coverPng(kit.browser, ITEM) })
    await page.getByLabel('Pages anyone may look at').fill('3')
    await page.getByLabel('Free sample (pages)').fill('2')
    await page.getByRole('button', { name: 'Upload' }).click()
    await page.waitForURL(`${app.url}/content/${ITEM.slug}`, { timeout: 20_000 })
    t.match(await page.locator('.item-info').textContent(), '6 pages', 'the item page shows the page count read at upload')
    await page.close()
  })

  /** Opens the item page (reloading, bounded) until the job has made the page images and the strip shows. */
  async function openWithStrip (page: Page): Promise<number> {
    return await eventually(async () => {
      await page.goto(`${app.url}/content/${ITEM.slug}`)
      return await page.locator(`${STRIP} img`).count()
    }, (count) => count > 0, 45_000)
  }

  /** Every page image of the strip scrolled into view (the third is lazy) and decoded: their natural widths. */
  async function imageWidths (page: Page): Promise<number[]> {
    const widths: number[] = []
    for (const img of await page.locator(`${STRIP} img`).all()) {
      await img.scrollIntoViewIfNeeded()
      widths.push(await eventually(async () => await img.evaluate((el) => (el as unknown as { naturalWidth: number }).naturalWidth), (w) => w > 0))
    }
    await page.evaluate(`document.querySelector('${STRIP}').scrollLeft = 0; window.scrollTo(0, 0)`)
    return widths
  }

  /** Tabs to the strip (bounded): it must be reachable by keyboard and show where the focus is. */
  async function tabToStrip (t: Test, page: Page): Promise<void> {
    await page.evaluate('document.activeElement?.blur(); window.scrollTo(0, 0)')
    let reached = false
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab')
      reached = await page.evaluate(`document.activeElement === document.querySelector('${STRIP}')`) as boolean
    }
    t.ok(reached, 'the strip is reached with the Tab key')
    const ring = await page.evaluate('(() => { const s = getComputedStyle(document.activeElement); return (s.outlineStyle !== \'none\' && parseFloat(s.outlineWidth) >= 2) || s.boxShadow !== \'none\' })()')
    t.ok(ring, 'the focused strip shows a visible focus ring')
  }

  /** ArrowRight on the focused strip scrolls it sideways when its pages do not all fit. */
  async function arrowScrolls (t: Test, page: Page, width: number): Promise<void> {
    const before = await page.evaluate(stripState) as { scrollLeft: number, scrollWidth: number, clientWidth: number }
    if (before.scrollWidth <= before.clientWidth) {
      t.ok(width > PHONE.width, `at ${width}px the three pages fit side by side (${before.scrollWidth} <= ${before.clientWidth}px): nothing to scroll`)
      return
    }
    await page.keyboard.press('ArrowRight')
    const after = await eventually(async () => await page.evaluate(stripState) as typeof before, (state) => state.scrollLeft > before.scrollLeft, 5_000)
    t.ok(after.scrollLeft > before.scrollLeft, `ArrowRight scrolls the strip sideways at ${width}px (scrollLeft ${before.scrollLeft} -> ${after.scrollLeft})`)
  }

  /** The sample, as a visitor's browser downloads it and as its link answers. */
  async function sampleDownloads (t: Test, page: Page): Promise<void> {
    const link = page.getByRole('link', { name: /Free sample \(2 pages, PDF\)/ })
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()])
    t.equal(download.suggestedFilename(), `${ITEM.slug}-sample.pdf`, 'the sample downloads under the item\'s name')
    const path = await download.path()
    t.equal((await readFile(path)).subarray(0, 5).toString('latin1'), '%PDF-', 'the downloaded sample is a PDF')
    const response = await page.request.get(new URL((await link.getAttribute('href'))!, app.url).href)
    t.equal(response.status(), 200, 'the sample link answers 200')
    t.equal(response.headers()['content-type'], 'application/pdf', 'as application/pdf')
  }

  for (const viewport of [DESKTOP, PHONE]) {
    const at = viewport === DESKTOP ? 'desktop' : 'phone'
    step(`a signed-out visitor on a ${at} waits for the strip, scrolls it with the keyboard and downloads the sample`, async (t) => {
      const page = await person(viewport)
      const count = await openWithStrip(page)
      t.equal(count, 3, 'the strip shows the 3 pages the admin chose')
      const widths = await imageWidths(page)
      t.same(widths.map((w) => w > 0), [true, true, true], `every page image loaded (natural widths ${widths.join(', ')})`)
      t.equal(await page.getByRole('heading', { name: 'Look inside' }).count(), 1, 'the strip has its heading')
      if (viewport === DESKTOP) await screen(t, page, 'item-look-inside')
      await tabToStrip(t, page)
      await arrowScrolls(t, page, viewport.width)
      await page.locator(STRIP).scrollIntoViewIfNeeded()
      await page.screenshot({ path: `${shotPath('look-inside-strip-keyboard')}-${at}.png` })
      await sampleDownloads(t, page)
      await page.close()
    })
  }

  step('no script or CSP error on the way', async (t) => {
    t.same(consoleProblems, [], 'no script or CSP error on any app page')
    t.same(cspViolations, [], 'no Content Security Policy violation')
  })
}

t.setTimeout(240_000)
if (existsSync(CHROMIUM)) {
  lookInside()
} else if (!['', 'false', '0'].includes(process.env.CI ?? '')) {
  t.fail(`Chromium is missing at ${CHROMIUM}: the end-to-end journeys must run in CI (apt-get install chromium)`)
} else {
  t.plan(0, `Chromium is not installed at ${CHROMIUM}; the look-inside journey is skipped (it fails instead when CI is set)`)
}
