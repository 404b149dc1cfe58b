import transliterate from '@sindresorhus/transliterate'

/**
 * The longest slug, in UTF-16 code units: Fastify's router (maxParamLength in app.ts) refuses a
 * longer path parameter, which it measures after decoding. A 120-character title stays under it
 * but for transliteration (ß -> ss) and characters outside the Basic Multilingual Plane.
 */
export const MAX_SLUG_LENGTH = 200

const LATIN = /\p{Script=Latin}+/gu
// A combining mark belongs to the letter or digit before it (Devanagari vowel signs, Arabic
// harakat); one that follows nothing of the kind is punctuation like any other.
const STRAY_MARKS = /(?<![\p{L}\p{N}\p{M}])\p{M}+/gu
const OTHERS = /[^\p{L}\p{N}\p{M}]+/gu
const graphemes = new Intl.Segmenter('und', { granularity: 'grapheme' })

/**
 * An item's address from its title: lower case, runs of other characters become '-', trimmed of
 * '-'. Letters and digits of every script count; Latin letters lose their diacritics (`Café
 * Crème` -> `cafe-creme`) through the transliteration table, applied to Latin runs only (it also
 * turns `&` into `and` and other scripts into Latin, which a creator writing in them does not
 * want). An empty result means the title has no letter or digit at all.
 */
export function slugify (title: string): string {
  const slug = title.normalize('NFC')
    .replace(LATIN, (run) => transliterate(run))
    .toLowerCase()
    .normalize('NFC')
    .replace(STRAY_MARKS, '-')
    .replace(OTHERS, '-')
    .replace(/^-+|-+$/g, '')
  return slug.length <= MAX_SLUG_LENGTH ? slug : shorten(slug)
}

/** Cut to MAX_SLUG_LENGTH between two whole characters (a letter keeps its marks), at a '-' when there is one. */
function shorten (slug: string): string {
  let kept = ''
  for (const { segment } of graphemes.segment(slug)) {
    if (kept.length + segment.length > MAX_SLUG_LENGTH) break
    kept += segment
  }
  const word = kept.lastIndexOf('-')
  return (word >= MAX_SLUG_LENGTH / 2 ? kept.slice(0, word) : kept).replace(/-+$/, '')
}

/**
 * The site path of an item (`/content/<slug>`, and `tail` such as `/download`), the slug
 * percent-encoded: a slug in Cyrillic or Japanese may be sent in a Location header, which Node
 * allows only in ASCII. Routes read the slug decoded (Fastify decodes path parameters).
 */
export function itemPath (slug: string, tail = ''): string {
  return `/content/${encodeURIComponent(slug)}${tail}`
}

/**
 * `Content-Disposition` for a download named after a slug. Header values are ASCII: a name in
 * another script goes in `filename*` (RFC 6266, UTF-8 percent-encoded, which browsers use),
 * with an ASCII `filename` beside it for the few clients that read only that.
 */
export function attachment (name: string): string {
  const ascii = name.replace(/[^\w.-]+/g, '-')
  if (ascii === name) return `attachment; filename="${name}"`
  const fallback = ascii.replace(/^-+/, '').replace(/-+(?=\.)/g, '')
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
  return `attachment; filename="${fallback.startsWith('.') || fallback === '' ? 'download' + fallback : fallback}"; filename*=UTF-8''${encoded}`
}
