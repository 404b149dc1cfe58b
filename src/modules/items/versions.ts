import type { Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { ContentVersion, Database } from '../../db/types.js'

export type VersionSummary = Pick<ContentVersion, 'version' | 'file_name' | 'file_size' | 'changelog' | 'created_at'>

/** An item's PDFs over time: each new PDF is the next version, earlier ones still download. */
export function createVersions (deps: { db: Kysely<Database>, runner: Runner }) {
  const { db, runner } = deps
  const latest = (contentId: number) => db.selectFrom('content_versions')
    .select((eb) => eb.fn.max<number | null>('version').as('version')).where('content_id', '=', contentId)

  return {
    async latestVersion (contentId: number): Promise<number> {
      // An item put in by hand (a seed, an old backup) without version rows has its one file.
      return (await runner.first(latest(contentId)))?.version ?? 1
    },

    /** The item's versions, newest first. */
    async versions (contentId: number): Promise<VersionSummary[]> {
      return await runner.all(db.selectFrom('content_versions')
        .select(['version', 'file_name', 'file_size', 'changelog', 'created_at'])
        .where('content_id', '=', contentId).orderBy('version', 'desc'))
    },

    async version (contentId: number, version: number): Promise<ContentVersion | undefined> {
      return await runner.first(db.selectFrom('content_versions').selectAll()
        .where('content_id', '=', contentId).where('version', '=', version))
    }
  }
}

export type Versions = ReturnType<typeof createVersions>
