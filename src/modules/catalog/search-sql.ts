import { type Compilable, type Kysely, type RawBuilder, type SqlBool, sql } from 'kysely'
import type { Database } from '../../db/types.js'
import { bundleSize, type CatalogItem, type CatalogSort, searchWords } from './search-words.js'

// The catalogue's queries that PostgreSQL writes differently from SQLite: the search (FTS5
// there, a GIN index over a tsvector expression here, migration 0009) and the stamp that tells
// the page caches the database changed.

/**
 * The indexed document: title above description. Written exactly as migration 0009's
 * `content_search` index, or PostgreSQL reads every row instead of the index.
 */
const document = sql`(setweight(to_tsvector('content_search'::regconfig, content.title), 'A') || setweight(to_tsvector('content_search'::regconfig, content.description), 'B'))`

/**
 * "All these words": each word a phrase, as FTS5's quoted phrases (`foo-bar` is foo followed
 * by bar), parsed by phraseto_tsquery, which has no operators: whatever is typed is searched
 * for as text, never run.
 */
function tsQuery (words: string[]): RawBuilder<unknown> {
  return sql`(${sql.join(words.map((word) => sql`phraseto_tsquery('content_search'::regconfig, ${word})`), sql` && `)})`
}

/**
 * Weights of D, C, B (description) and A (title): a word in the title counts five times one
 * in the description, as bm25(content_fts, 5.0, 1.0) weighs them on SQLite.
 */
const RANK_WEIGHTS = '{0, 0, 0.2, 1.0}'

export interface SearchQueries {
  /** How many published items match. */
  count: Compilable<{ total: number }>
  /** One page of them, in the order asked for (best match first without one). */
  page(limit: number, offset: number): Compilable<CatalogItem>
}

/**
 * The PostgreSQL form of the catalogue's search: published items matching every word of
 * `input` in their title or description, accents and case ignored. Undefined when there is
 * nothing to search for (as ftsQuery). The sorts are catalog.ts's own: `title COLLATE NOCASE`
 * works here because migration 0009 creates a case-insensitive collation named nocase.
 */
export function postgresSearch (db: Kysely<Database>, input: string, sort: CatalogSort | null): SearchQueries | undefined {
  const words = searchWords(input)
  if (words === undefined) return undefined
  const query = tsQuery(words)
  const matching = db.selectFrom('content')
    .where('content.published', '=', 1)
    .where(sql<SqlBool>`${document} @@ ${query}`)
  return {
    count: matching.select((eb) => eb.fn.countAll<number>().as('total')),
    page (limit, offset) {
      let page = matching.select(['content.id', 'content.slug', 'content.title', 'content.price_cents', 'content.currency', 'content.created_at', 'content.pay_what_you_want', 'content.min_price_cents', 'content.kind', bundleSize])
      if (sort === 'price') page = page.orderBy('content.price_cents').orderBy('content.id')
      else if (sort === 'title') page = page.orderBy(sql`content.title COLLATE NOCASE`).orderBy('content.id')
      else if (sort === 'new') page = page.orderBy('content.created_at', 'desc').orderBy('content.id', 'desc')
      else page = page.orderBy(sql`ts_rank(${RANK_WEIGHTS}::float4[], ${document}, ${query})`, 'desc').orderBy('content.id', 'desc')
      return page.limit(limit).offset(offset)
    }
  }
}
