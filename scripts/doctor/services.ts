// npm run doctor's checks of the database, the file store, the mail relay and the identity
// provider. They read; they never write (no migration, no store id, no mail sent).
import { constants, existsSync, statSync } from 'node:fs'
import { access, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import SQLite from 'better-sqlite3'
import { sql } from 'kysely'
import nodemailer from 'nodemailer'
import { migrations } from '../../migrations/index.js'
import { type Config, uploadAllowanceMs } from '../../src/config.js'
import { openConfiguredDatabase } from '../../src/db/open.js'
import { openStore } from '../../src/storage/open.js'
import { MARKER } from '../../src/storage/store.js'
import { type Report, reason } from './report.js'

interface DatabaseState { applied: string[], storeId: string | undefined }

async function readSqlite (path: string): Promise<DatabaseState> {
  const sqlite = new SQLite(path, { readonly: true, fileMustExist: true })
  try {
    const tables = new Set((sqlite.prepare("select name from sqlite_master where type = 'table'").all() as Array<{ name: string }>).map((row) => row.name))
    const applied = tables.has('kysely_migration') ? (sqlite.prepare('select name from kysely_migration').all() as Array<{ name: string }>).map((row) => row.name) : []
    const stored = tables.has('meta') ? sqlite.prepare("select value from meta where key = 'store_id'").get() as { value: string } | undefined : undefined
    return { applied, storeId: stored?.value }
  } finally {
    sqlite.close()
  }
}

async function readPostgres (config: Config): Promise<DatabaseState> {
  const { handle } = await openConfiguredDatabase(config)
  try {
    const exists = async (table: string): Promise<boolean> =>
      (await sql<{ found: string | null }>`select to_regclass(${table}) as found`.execute(handle.db)).rows[0]?.found != null
    const applied = await exists('kysely_migration') ? (await sql<{ name: string }>`select name from kysely_migration`.execute(handle.db)).rows.map((row) => row.name) : []
    const stored = await exists('meta') ? (await sql<{ value: string }>`select value from meta where key = 'store_id'`.execute(handle.db)).rows[0] : undefined
    return { applied, storeId: stored?.value }
  } finally {
    await handle.close()
  }
}

/** The database opens and its migrations are this version's (pending ones npm start applies). */
export async function checkDatabase (config: Config, report: Report): Promise<DatabaseState | undefined> {
  const known = Object.keys(migrations)
  const where = config.database.kind === 'postgres' ? config.database.display : config.databasePath
  if (config.database.kind === 'sqlite' && (config.databasePath === ':memory:' || !existsSync(config.databasePath))) {
    report.ok(`database: ${where} does not exist yet; npm start creates it with ${known.length} migrations`)
    return undefined
  }
  let state: DatabaseState
  try {
    state = config.database.kind === 'postgres' ? await readPostgres(config) : await readSqlite(config.databasePath)
  } catch (error) {
    report.problem('DATABASE_URL', `could not open ${where}: ${reason(error)}`)
    return undefined
  }
  const unknown = state.applied.filter((name) => !known.includes(name))
  if (unknown.length > 0) {
    report.problem('DATABASE_URL', `${where} has migrations this version does not know (${unknown.join(', ')}): a newer version migrated it; run that version, or restore a backup`)
    return state
  }
  const pending = known.length - state.applied.length
  report.ok(`database: ${where}, ${pending === 0 ? 'migrations up to date' : `${pending} migration${pending === 1 ? '' : 's'} pending (npm start or npm run migrate applies them)`}`)
  return state
}

/** The folder is writable (or can be made), the bucket answers; the store's id is the database's. */
export async function checkStorage (config: Config, database: DatabaseState | undefined, report: Report): Promise<void> {
  const storage = config.storage
  const variable = storage.kind === 'folder' ? storage.variable : 'STORAGE_URL'
  let storeId: string | undefined
  if (storage.kind === 'folder') {
    if (!existsSync(storage.dir)) {
      report.ok(`storage: ${storage.dir} does not exist yet; npm start creates it`)
      return
    }
    if (!statSync(storage.dir).isDirectory()) return report.problem(variable, `${storage.dir} is not a folder`)
    try {
      await access(storage.dir, constants.W_OK)
    } catch {
      return report.problem(variable, `${storage.dir} is not writable by this user`)
    }
    storeId = await readFile(join(storage.dir, MARKER), 'utf8').then((text) => text.trim(), () => undefined)
  } else {
    const store = await openStore(storage, { uploadAllowanceMs: uploadAllowanceMs(config) })
    try {
      if (!await store.check()) return report.problem(variable, `the bucket ${storage.bucket} did not answer: check STORAGE_URL, S3_ENDPOINT, S3_REGION and the AWS_ keys`)
      storeId = await store.readStoreId()
    } catch (error) {
      return report.problem(variable, `could not read the bucket ${storage.bucket}: ${reason(error)}`)
    } finally {
      await store.close()
    }
  }
  if (storeId !== undefined && storeId !== database?.storeId) {
    return report.problem('DATABASE_URL', database?.storeId === undefined
      ? `the database does not own ${variable}'s files, which belong to store ${storeId}: point DATABASE_URL and ${variable} at the same store`
      : `the database belongs to store ${database.storeId}, but ${variable}'s files to store ${storeId}: point DATABASE_URL and ${variable} at the same store`)
  }
  const where = storage.kind === 'folder' ? storage.dir : `s3://${storage.bucket}/${storage.prefix}`
  report.ok(`storage: ${where} ${storage.kind === 'folder' ? 'is writable' : 'answers'}${storeId === undefined ? '' : `, store ${storeId}`}`)
}

/** The relay accepts a connection and, when the URL holds them, the user and password. Sends nothing. */
export async function checkSmtp (config: Config, report: Report): Promise<void> {
  if (config.smtpUrl === null) {
    if (config.production) report.warn('SMTP_URL is not set: no receipts or download links are emailed')
    return
  }
  const url = new URL(config.smtpUrl)
  const where = `${url.protocol}//${url.hostname}${url.port === '' ? '' : `:${url.port}`}`
  const transport = nodemailer.createTransport(config.smtpUrl, { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 10_000 } as never)
  try {
    await transport.verify()
    report.ok(`mail: ${where} accepted the connection${url.username === '' ? '' : ' and the login'}`)
  } catch (error) {
    const code = (error as { code?: string }).code
    if (code === 'EAUTH') report.problem('SMTP_URL', `${where} refused the user and password`)
    else report.problem('SMTP_URL', `could not talk to ${where}: ${reason(error).replace(config.smtpUrl, where)}`)
  } finally {
    transport.close()
  }
}

/** OIDC: the issuer's discovery document is there and names it; GitHub and Google are known. */
export async function checkSignIn (config: Config, report: Report): Promise<void> {
  const oauth = config.oauth
  if (oauth === null) return
  if (oauth.provider !== 'oidc' || oauth.issuer === undefined) {
    report.ok(`sign-in: ${oauth.provider} (its client id and secret are checked at the first sign-in)`)
    return
  }
  const discovery = `${oauth.issuer}/.well-known/openid-configuration`
  try {
    const answer = await fetch(discovery, { signal: AbortSignal.timeout(10_000) })
    if (!answer.ok) return report.problem('OIDC_ISSUER', `${discovery} answered ${answer.status}: is OIDC_ISSUER the issuer's URL?`)
    const document = await answer.json() as { issuer?: unknown, authorization_endpoint?: unknown, token_endpoint?: unknown }
    if (typeof document.authorization_endpoint !== 'string' || typeof document.token_endpoint !== 'string') {
      return report.problem('OIDC_ISSUER', `${discovery} is not a discovery document (no authorization_endpoint or token_endpoint)`)
    }
    if (typeof document.issuer === 'string' && document.issuer.replace(/\/+$/, '') !== oauth.issuer) {
      return report.problem('OIDC_ISSUER', `the provider names its issuer ${document.issuer}: set OIDC_ISSUER to exactly that`)
    }
    report.ok(`sign-in: oidc at ${oauth.issuer} (discovery found)`)
  } catch (error) {
    report.problem('OIDC_ISSUER', `could not fetch ${discovery}: ${reason(error)}`)
  }
}
