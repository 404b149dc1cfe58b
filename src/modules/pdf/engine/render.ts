// The look inside: the first pages as images about `width` pixels wide, drawn by pdf.js on
// @napi-rs/canvas (a prebuilt Skia: no system package), encoded as WebP. The canvas comes from
// pdf.js's own factory: pdf.js draws glyphs with the Path2D of the @napi-rs/canvas it resolves,
// and a canvas of another copy of that package rejects them.
import { readFile } from 'node:fs/promises'
import { openReader } from './reader.js'

export interface RenderedPages { contentType: 'image/webp' | 'image/png', images: Uint8Array[] }

// A page's height follows its shape: a long strip (a poster, a receipt roll) must not become a
// 100-megapixel canvas.
const MAX_HEIGHT = 4000

interface NapiCanvas { width: number, height: number, encode: (format: 'webp', quality: number) => Promise<Uint8Array> }
interface CanvasContext { fillStyle: string, fillRect: (x: number, y: number, w: number, h: number) => void }
const WEBP_QUALITY = 82

export async function render (path: string, options: { pages: number, width: number }): Promise<RenderedPages> {
  const reader = await openReader(new Uint8Array(await readFile(path)))
  try {
    const count = Math.max(0, Math.min(Math.floor(options.pages), reader.numPages))
    const width = Math.max(16, Math.min(Math.floor(options.width), 2000))
    const images: Uint8Array[] = []
    for (let n = 1; n <= count; n++) {
      const page = await reader.getPage(n)
      const natural = page.getViewport({ scale: 1 })
      const scale = Math.min(width / natural.width, MAX_HEIGHT / natural.height)
      const viewport = page.getViewport({ scale })
      const factory = reader.canvasFactory as { create: (w: number, h: number) => { canvas: NapiCanvas, context: CanvasContext }, destroy: (c: unknown) => void }
      const drawn = factory.create(Math.max(1, Math.round(viewport.width)), Math.max(1, Math.round(viewport.height)))
      const { canvas, context } = drawn
      // Pages have no background of their own: paper is white.
      context.fillStyle = '#ffffff'
      context.fillRect(0, 0, canvas.width, canvas.height)
      // pdf.js's types name the DOM canvas; @napi-rs/canvas implements the part pdf.js draws with.
      await page.render({ canvas, canvasContext: context, viewport } as unknown as Parameters<typeof page.render>[0]).promise
      images.push(new Uint8Array(await canvas.encode('webp', WEBP_QUALITY)))
      factory.destroy(drawn)
      page.cleanup()
    }
    return { contentType: 'image/webp', images }
  } finally {
    await reader.destroy()
  }
}
