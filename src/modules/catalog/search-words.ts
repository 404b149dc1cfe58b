import { sql } from 'kysely'
import type { Content } from '../../db/types.js'

// What both search dialects share: the visitor's words and the orders a page can be in.

export type CatalogItem = Pick<Content, 'id' | 'slug' | 'title' | 'price_cents' | 'currency' | 'created_at' | 'pay_what_you_want' | 'min_price_cents' | 'kind'> & {
  /** How many items a bundle holds (0 for an item): its card says "Bundle · 3 PDFs". */
  bundle_size: number
}

/** The bundle_size column of a catalogue row, a subquery both dialects share. */
export const bundleSize = sql<number>`(SELECT CAST(count(*) AS integer) FROM bundle_items WHERE bundle_items.bundle_id = content.id)`.as('bundle_size')

/** The orders a visitor can ask for (`?sort=`); without one, best match first for a search, else newest. */
export const SORTS = ['new', 'price', 'title'] as const
export type CatalogSort = typeof SORTS[number]

/** A search longer than this is cut: nobody types more, and each word costs the index a lookup. */
export const MAX_QUERY_WORDS = 16
const MAX_QUERY_CHARS = 1000

/**
 * The visitor's words: split on white space and control characters (a NUL would end FTS5's
 * string early, and PostgreSQL's text cannot hold one), words without a letter or digit dropped
 * (the tokenizer would find nothing in them), at most 16. Undefined: nothing to search for.
 */
export function searchWords (input: string): string[] | undefined {
  const words = input.slice(0, MAX_QUERY_CHARS).split(/[\s\p{Cc}]+/u)
    .filter((word) => /[\p{L}\p{N}]/u.test(word))
    .slice(0, MAX_QUERY_WORDS)
  return words.length === 0 ? undefined : words
}

/**
 * A visitor's words as an FTS5 query that can only mean "all these words": each word becomes a
 * quoted phrase (a quote inside doubled), so FTS5 syntax typed in (`"`, `*`, `NEAR(`, `-`, `OR`,
 * `title:x`) is searched for as text, never run. Undefined: nothing to search for.
 */
export function ftsQuery (input: string): string | undefined {
  return searchWords(input)?.map((word) => `"${word.replaceAll('"', '""')}"`).join(' ')
}
