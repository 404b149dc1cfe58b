import type { Browser } from 'playwright-core'

export interface CoverDesign {
  title: string
  author: string
  /** Two colours of the background gradient (CSS colours). */
  from: string
  to: string
  /** The shape drawn behind the title. */
  motif: 'rings' | 'stripes' | 'dots' | 'waves'
}

const escape = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

function motifSvg (motif: CoverDesign['motif']): string {
  switch (motif) {
    case 'rings':
      return [0, 1, 2, 3, 4].map((i) => `<circle cx="470" cy="250" r="${60 + i * 55}" fill="none" stroke="white" stroke-opacity="${0.35 - i * 0.05}" stroke-width="18"/>`).join('')
    case 'stripes':
      return [0, 1, 2, 3, 4, 5, 6].map((i) => `<rect x="${-200 + i * 110}" y="-100" width="46" height="1200" fill="white" fill-opacity="${0.08 + (i % 3) * 0.05}" transform="rotate(28 300 400)"/>`).join('')
    case 'dots': {
      const dots: string[] = []
      for (let row = 0; row < 7; row++) {
        for (let col = 0; col < 6; col++) {
          dots.push(`<circle cx="${70 + col * 92}" cy="${60 + row * 70}" r="${6 + ((row + col) % 4) * 5}" fill="white" fill-opacity="${0.12 + ((row * col) % 5) * 0.06}"/>`)
        }
      }
      return dots.join('')
    }
    case 'waves':
      return [0, 1, 2, 3, 4, 5].map((i) => `<path d="M-20 ${140 + i * 60} C 150 ${60 + i * 60}, 300 ${240 + i * 60}, 620 ${120 + i * 60}" fill="none" stroke="white" stroke-opacity="${0.14 + i * 0.04}" stroke-width="14"/>`).join('')
  }
}

function coverHtml (design: CoverDesign): string {
  return `<!doctype html><html><head><meta charset="utf-8"><style>
  html, body { margin: 0; }
  .cover { position: relative; width: 600px; height: 800px; overflow: hidden; font-family: 'DejaVu Serif', Georgia, serif; color: white;
    background: linear-gradient(150deg, ${design.from}, ${design.to}); }
  svg { position: absolute; inset: 0; }
  .text { position: absolute; left: 56px; right: 56px; bottom: 72px; }
  .rule { width: 72px; height: 6px; background: white; border-radius: 3px; margin-bottom: 28px; opacity: .9; }
  h1 { font-size: 62px; line-height: 1.05; margin: 0 0 24px; letter-spacing: -1px; text-shadow: 0 2px 18px rgb(0 0 0 / 25%); }
  p { font: 600 24px/1.2 'DejaVu Sans', Arial, sans-serif; letter-spacing: 4px; text-transform: uppercase; margin: 0; opacity: .9; }
  </style></head><body><div class="cover">
  <svg width="600" height="800" viewBox="0 0 600 800" xmlns="http://www.w3.org/2000/svg">${motifSvg(design.motif)}</svg>
  <div class="text"><div class="rule"></div><h1>${escape(design.title)}</h1><p>${escape(design.author)}</p></div>
  </div></body></html>`
}

/** A 600x800 PNG book cover drawn by the browser itself: real fonts, gradients, no files to keep. */
export async function coverPng (browser: Browser, design: CoverDesign): Promise<Buffer> {
  const context = await browser.newContext({ viewport: { width: 600, height: 800 }, deviceScaleFactor: 1 })
  try {
    const page = await context.newPage()
    await page.setContent(coverHtml(design))
    return await page.screenshot({ type: 'png', clip: { x: 0, y: 0, width: 600, height: 800 } })
  } finally {
    await context.close()
  }
}
