import { existsSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { ConfigError, type DatabaseConfig, type DownloadOffload, type S3Config, type StorageConfig } from './types.js'
import { type Env, flag, read, url } from './read.js'

// Where the data lives: the database (DATABASE_URL), the file store (STORAGE_URL, CONTENT_DIR)
// and how downloads leave it (DOWNLOAD_OFFLOAD, X_ACCEL_PREFIX).

export const DEFAULT_DATABASE = 'data/marketplace.db'

/**
 * The SQLite file. Only the default folder is created: a mistyped path must not quietly start a
 * second, empty store (which once swept a live store's files).
 */
function databasePath (env: Env): string {
  const raw = read(env, 'DATABASE_URL')
  if (raw === ':memory:') return raw
  const path = resolve((raw ?? DEFAULT_DATABASE).replace(/^sqlite:(\/\/)?/, ''))
  if (raw === undefined || path === resolve(DEFAULT_DATABASE)) return path
  const parent = dirname(path)
  if (!existsSync(parent) || !statSync(parent).isDirectory()) {
    throw new ConfigError('DATABASE_URL', `the folder ${parent} does not exist; create it first or fix the path`)
  }
  return path
}

const POSTGRES_SHAPE = 'postgres://user:password@host:5432/database (percent-encode @, / and : in the password)'

/**
 * `postgres://` or `postgresql://` selects PostgreSQL, anything else is a SQLite path. The URL
 * is never repeated in a message: it holds the password.
 */
export function databaseConfig (env: Env): DatabaseConfig {
  const raw = read(env, 'DATABASE_URL')
  if (raw !== undefined && /^postgres(ql)?:/i.test(raw)) return postgresConfig(raw)
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw ?? '')?.[1]
  if (scheme !== undefined && scheme.toLowerCase() !== 'sqlite') {
    throw new ConfigError('DATABASE_URL', `must be a SQLite file path or ${POSTGRES_SHAPE}, got a ${scheme}:// URL`)
  }
  return { kind: 'sqlite', path: databasePath(env) }
}

function postgresConfig (raw: string): DatabaseConfig {
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    throw new ConfigError('DATABASE_URL', `is not a URL pg can read; it must look like ${POSTGRES_SHAPE}`)
  }
  // A Unix socket is named by ?host=/run/postgresql with the host part left empty.
  if (parsed.hostname === '' && parsed.searchParams.get('host') === null) {
    throw new ConfigError('DATABASE_URL', `names no host; it must look like ${POSTGRES_SHAPE}`)
  }
  if (parsed.pathname.slice(1).includes('/')) {
    throw new ConfigError('DATABASE_URL', `has more than a database name after the host; it must look like ${POSTGRES_SHAPE}`)
  }
  const user = parsed.username === '' ? '' : `${parsed.username}@`
  return { kind: 'postgres', url: raw, display: `${parsed.protocol}//${user}${parsed.host}${parsed.pathname}` }
}

/** STORAGE_URL: `file:<dir>` or `s3://<bucket>[/<prefix>]`; by default the CONTENT_DIR folder. */
export function storageConfig (env: Env, contentDir: string): StorageConfig {
  const raw = read(env, 'STORAGE_URL')
  const s3Only = ['S3_ENDPOINT', 'S3_REGION', 'S3_FORCE_PATH_STYLE'].find((name) => read(env, name) !== undefined)
  if (raw === undefined || raw.startsWith('file:')) {
    // An S3 setting without an s3:// store is a STORAGE_URL left out: starting on the local folder
    // would open a second, empty store.
    if (s3Only !== undefined) throw new ConfigError(s3Only, 'is set, but STORAGE_URL is not an s3:// URL')
    if (raw === undefined) return { kind: 'folder', dir: contentDir, variable: 'CONTENT_DIR' }
    const path = raw.replace(/^file:(\/\/)?/, '')
    if (path === '') throw new ConfigError('STORAGE_URL', 'file: names no folder (file:/srv/content, file:content)')
    const dir = resolve(path)
    if (read(env, 'CONTENT_DIR') !== undefined && dir !== contentDir) {
      throw new ConfigError('STORAGE_URL', `names the folder ${dir}, but CONTENT_DIR names ${contentDir}: set one of them`)
    }
    return { kind: 'folder', dir, variable: 'STORAGE_URL' }
  }
  // Credentials belong in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: never repeat such a URL.
  if (raw.includes('@')) throw new ConfigError('STORAGE_URL', 'must not hold credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead')
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(raw)
  if (match === null) throw new ConfigError('STORAGE_URL', `must be file:<folder> or s3://<bucket>[/<prefix>], got "${raw}"`)
  const bucket = match[1]!
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new ConfigError('STORAGE_URL', `"${bucket}" is not a bucket name (3 to 63 lower-case letters, digits, dots and hyphens)`)
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '')
  const segments = prefix === '' ? [] : prefix.split('/')
  // Dot-named keys are the store's own (.store-id, .quarantine/): a prefix must not be one.
  if (segments.some((segment) => segment === '' || segment.startsWith('.') || !/^[\w.~-]+$/.test(segment))) {
    throw new ConfigError('STORAGE_URL', `the prefix "${prefix}" must be path segments of letters, digits, -, _, ~ and . (none empty or starting with a dot)`)
  }
  const rawEndpoint = read(env, 'S3_ENDPOINT')
  const region = read(env, 'S3_REGION') ?? 'us-east-1'
  if (!/^[a-z]{2}(-[a-z0-9]+)+$|^auto$/.test(region)) throw new ConfigError('S3_REGION', `must be a region name such as us-east-1, got "${region}"`)
  return {
    kind: 's3',
    bucket,
    prefix,
    endpoint: rawEndpoint === undefined ? undefined : url('S3_ENDPOINT', rawEndpoint),
    region,
    forcePathStyle: flag(env, 'S3_FORCE_PATH_STYLE', false),
    credentials: awsCredentials(env)
  }
}

/** Both or neither: the SDK's default chain looks elsewhere only when neither is set. Never echoed. */
function awsCredentials (env: Env): S3Config['credentials'] {
  const accessKeyId = read(env, 'AWS_ACCESS_KEY_ID')
  const secretAccessKey = read(env, 'AWS_SECRET_ACCESS_KEY')
  if (accessKeyId === undefined && secretAccessKey === undefined) return undefined
  if (accessKeyId === undefined) throw new ConfigError('AWS_ACCESS_KEY_ID', 'is required when AWS_SECRET_ACCESS_KEY is set')
  if (secretAccessKey === undefined) throw new ConfigError('AWS_SECRET_ACCESS_KEY', 'is required when AWS_ACCESS_KEY_ID is set')
  if (!/^[\x21-\x7e]{3,128}$/.test(accessKeyId)) throw new ConfigError('AWS_ACCESS_KEY_ID', 'must be 3 to 128 printable characters without spaces')
  if (!/^[\x21-\x7e]{3,128}$/.test(secretAccessKey)) throw new ConfigError('AWS_SECRET_ACCESS_KEY', 'must be 3 to 128 printable characters without spaces')
  return { accessKeyId, secretAccessKey }
}

/** DOWNLOAD_OFFLOAD, checked against the storage it needs. */
export function downloadOffload (env: Env, storage: StorageConfig): DownloadOffload {
  const raw = read(env, 'DOWNLOAD_OFFLOAD') ?? 'none'
  if (raw !== 'none' && raw !== 'redirect' && raw !== 'x-accel') throw new ConfigError('DOWNLOAD_OFFLOAD', `must be none, redirect or x-accel, got "${raw}"`)
  if (raw === 'redirect' && storage.kind !== 's3') throw new ConfigError('DOWNLOAD_OFFLOAD', 'redirect needs an object store (STORAGE_URL=s3://...); nginx offloads a folder with x-accel')
  if (raw === 'x-accel' && storage.kind !== 'folder') throw new ConfigError('DOWNLOAD_OFFLOAD', 'x-accel needs a content folder behind nginx; an object store offloads with redirect')
  return raw
}

/** X_ACCEL_PREFIX: a location path, `/` at both ends, to which nginx maps the content folder. */
export function xAccelPrefix (env: Env): string {
  const raw = read(env, 'X_ACCEL_PREFIX') ?? '/protected/'
  if (!/^\/([\w.~-]+\/)+$/.test(raw)) throw new ConfigError('X_ACCEL_PREFIX', `must be a path such as /protected/ (starting and ending with /), got "${raw}"`)
  return raw
}
