// @cantoo/pdf-lib, the editor: loads a file's objects to copy pages (samples) and add the stamp.
// The page tree is walked here, by hand, because pdf-lib's own walk recurses without a guard and
// overflows the stack on a tree that contains itself.
import { PDFArray, PDFDict, PDFDocument, PDFName, PDFRef, ParseSpeeds, type PDFContext } from '@cantoo/pdf-lib'

/** A file may claim any page count; no book has more, and a bigger tree is an attack or junk. */
export const MAX_PAGES = 20_000

export async function openEditor (bytes: Uint8Array, options: { incremental?: boolean } = {}): Promise<PDFDocument> {
  return await PDFDocument.load(bytes, {
    ignoreEncryption: true,
    updateMetadata: false,
    throwOnInvalidObject: false,
    forIncrementalUpdate: options.incremental === true,
    // A worker thread has nothing else to do: parse in one go instead of yielding every 100 objects.
    parseSpeed: ParseSpeeds.Fastest
  })
}

export interface PageLeaf { ref: PDFRef, dict: PDFDict, inherited: PDFDict[] }
export type PageWalk = { ok: true, pages: PageLeaf[] } | { ok: false, problem: 'cycle' | 'too-many' | 'missing' }

/**
 * The leaves of the page tree in order, each with the chain of its ancestors (nearest first) for
 * inherited attributes (/Resources, /MediaBox, /CropBox, /Rotate). Iterative, with a visited set.
 */
export function walkPages (context: PDFContext): PageWalk {
  const catalog = context.lookupMaybe(context.trailerInfo.Root, PDFDict)
  const rootRef = catalog?.get(PDFName.of('Pages'))
  if (!(rootRef instanceof PDFRef)) return { ok: false, problem: 'missing' }
  const pages: PageLeaf[] = []
  const seen = new Set<string>()
  const stack: Array<{ ref: PDFRef, ancestors: PDFDict[] }> = [{ ref: rootRef, ancestors: [] }]
  while (stack.length > 0) {
    const { ref, ancestors } = stack.pop() as { ref: PDFRef, ancestors: PDFDict[] }
    if (seen.has(ref.tag)) return { ok: false, problem: 'cycle' }
    seen.add(ref.tag)
    const node = context.lookupMaybe(ref, PDFDict)
    if (node === undefined) continue
    const kids = node.lookupMaybe(PDFName.of('Kids'), PDFArray)
    const type = node.get(PDFName.of('Type'))
    if (kids === undefined || type === PDFName.of('Page')) {
      if (pages.push({ ref, dict: node, inherited: ancestors }) > MAX_PAGES) return { ok: false, problem: 'too-many' }
      continue
    }
    const chain = [node, ...ancestors]
    for (let i = kids.size() - 1; i >= 0; i--) {
      const kid = kids.get(i)
      if (kid instanceof PDFRef) stack.push({ ref: kid, ancestors: chain })
    }
    if (stack.length > MAX_PAGES * 4) return { ok: false, problem: 'too-many' }
  }
  return { ok: true, pages }
}

/** An attribute of a page, or the nearest ancestor's (PDF 32000 7.7.3.4, inheritance). */
export function inheritedAttribute (leaf: PageLeaf, name: string): unknown {
  const key = PDFName.of(name)
  for (const dict of [leaf.dict, ...leaf.inherited]) {
    const value = dict.get(key)
    if (value !== undefined) return value
  }
  return undefined
}
