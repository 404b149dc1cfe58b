import { type Kysely, sql } from 'kysely'

// The store's face and the catalogue's search.
// - `settings`: the store's own words (name, tagline, contact, refund policy, switches), one row
//   per key, so a later setting is a row rather than a migration.
// - `content_fts`: an FTS5 index over titles and descriptions. External content (the text stays
//   only in `content`); triggers keep it in step with every insert, update and delete, whoever
//   writes; existing rows are indexed once here.
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('settings')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute()

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

  // Every order of the catalogue read a page at a time from an index that also holds
  // `published`: without it a deep page of the newest-first listing checked each skipped row in
  // the table (150 ms at 100,000 items).
  await sql`CREATE INDEX content_published_new ON content (published, created_at DESC, id DESC)`.execute(db)
  await sql`CREATE INDEX content_published_price ON content (published, price_cents, id)`.execute(db)
  await sql`CREATE INDEX content_published_title ON content (published, title COLLATE NOCASE, id)`.execute(db)
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
