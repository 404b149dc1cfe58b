import type { Content } from '../../db/types.js'

// The catalogue's listing types, shared by catalog.ts and search-sql.ts (which catalog.ts
// imports: here, not there, so neither imports the other back).

export type CatalogItem = Pick<Content, 'id' | 'slug' | 'title' | 'price_cents' | 'currency' | 'created_at' | 'pay_what_you_want' | 'min_price_cents'>

/** The orders a visitor can ask for (`?sort=`); without one, best match first for a search, else newest. */
export const SORTS = ['new', 'price', 'title'] as const
export type CatalogSort = typeof SORTS[number]
