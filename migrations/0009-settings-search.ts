import { type Kysely, sql } from 'kysely'
import { isPostgres } from './dialect.js'

// The store's face and the catalogue's search.
// - `settings`: the store's own words (name, tagline, contact, refund policy, switches), one row
//   per key, so a later setting is a row rather than a migration.
// - `content_fts`: an FTS5 index over titles and descriptions. External content (the text stays
//   only in `content`); triggers keep it in step with every insert, update and delete, whoever
//   writes; existing rows are indexed once here.
// - On PostgreSQL the same search is an expression GIN index over the same two columns (title
//   weighted above description), with a text search configuration that folds case and accents
//   as FTS5's unicode61 tokenizer does; the query is in src/modules/catalog/search-sql.ts and must
//   write the indexed expression exactly as here.
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('settings')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute()

  if (isPostgres(db)) await postgresSearch(db)
  else await sqliteSearch(db)

  // Every order of the catalogue read a page at a time from an index that also holds
  // `published`: without it a deep page of the newest-first listing checked each skipped row in
  // the table (150 ms at 100,000 items).
  await sql`CREATE INDEX content_published_new ON content (published, created_at DESC, id DESC)`.execute(db)
  await sql`CREATE INDEX content_published_price ON content (published, price_cents, id)`.execute(db)
  await sql`CREATE INDEX content_published_title ON content (published, title COLLATE NOCASE, id)`.execute(db)
}

async function sqliteSearch (db: Kysely<any>): Promise<void> {
  await sql`CREATE VIRTUAL TABLE content_fts USING fts5(
    title, description,
    content = 'content', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
  )`.execute(db)
  await sql`CREATE TRIGGER content_fts_insert AFTER INSERT ON content BEGIN
    INSERT INTO content_fts (rowid, title, description) VALUES (new.id, new.title, new.description);
  END`.execute(db)
  await sql`CREATE TRIGGER content_fts_delete AFTER DELETE ON content BEGIN
    INSERT INTO content_fts (content_fts, rowid, title, description) VALUES ('delete', old.id, old.title, old.description);
  END`.execute(db)
  // Only a change of the indexed text touches the index (publishing, a new version do not).
  await sql`CREATE TRIGGER content_fts_update AFTER UPDATE OF title, description ON content BEGIN
    INSERT INTO content_fts (content_fts, rowid, title, description) VALUES ('delete', old.id, old.title, old.description);
    INSERT INTO content_fts (rowid, title, description) VALUES (new.id, new.title, new.description);
  END`.execute(db)
  await sql`INSERT INTO content_fts (content_fts) VALUES ('rebuild')`.execute(db)
}

async function postgresSearch (db: Kysely<any>): Promise<void> {
  // unaccent is a trusted extension: a role that may create objects in the database may create it (PostgreSQL 13+).
  await sql`CREATE EXTENSION IF NOT EXISTS unaccent`.execute(db)
  await sql`CREATE TEXT SEARCH CONFIGURATION content_search (COPY = simple)`.execute(db)
  await sql`ALTER TEXT SEARCH CONFIGURATION content_search
    ALTER MAPPING FOR word, hword_part, asciiword, hword_asciipart WITH unaccent, simple`.execute(db)
  // As unicode61 splits `flour-water-salt` into three words (so "water-salt" finds it), only
  // the parts of a hyphenated word are indexed, not the whole.
  await sql`ALTER TEXT SEARCH CONFIGURATION content_search DROP MAPPING FOR hword, asciihword`.execute(db)
  await sql`CREATE INDEX content_search ON content USING gin ((
    setweight(to_tsvector('content_search'::regconfig, title), 'A') ||
    setweight(to_tsvector('content_search'::regconfig, description), 'B')
  ))`.execute(db)
  // The title order is SQLite's NOCASE (case-insensitive): a collation of that name lets the
  // catalogue's `title COLLATE NOCASE` and its index be written once for both engines.
  await sql`CREATE COLLATION nocase (provider = icu, locale = 'und-u-ks-level2')`.execute(db)
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
