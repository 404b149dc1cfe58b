import { randomUUID } from 'node:crypto'
import { PassThrough, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  AbortMultipartUploadCommand, CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListMultipartUploadsCommand,
  ListObjectsV2Command, PutObjectCommand, S3Client, type _Object, type GetObjectCommandOutput, type HeadObjectCommandOutput
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import type { S3Config } from '../config.js'
import { attachment } from '../lib/slugs.js'
import {
  Inspector, isKey, MARKER, type FileValidators, type ObjectRead, type ObjectStore, type PendingFile, QUARANTINE, type ReadConditions, type ReceiveOptions,
  SWEEP_MAX_AGE_MS, SWEEP_MIN_AGE_MS, type SweepResult, tooLarge
} from './store.js'

/** S3's smallest part; each upload holds at most (queue + 1) parts in memory, never the whole file. */
const PART_SIZE = 5 * 1024 * 1024
const QUEUE = 2
/** CopyObject copies at most 5 GiB in one request: a bigger leftover is reported, not quarantined. */
const MAX_COPY_BYTES = 5 * 1024 * 1024 * 1024
const HEALTH_TIMEOUT_MS = 3000
const CONTENT_TYPES: Record<string, string> = { pdf: 'application/pdf', png: 'image/png', jpg: 'image/jpeg', webp: 'image/webp' }

/** The Node major the AWS SDK's releases after the first week of January 2027 require. */
const SDK_NODE_MAJOR = 22
/** The SDK's own switch for its Node version warning (@aws-sdk/core, emitWarningIfUnsupportedVersion). */
const SDK_NODE_WARNING_OFF = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'

/**
 * On a Node older than the AWS SDK's next requirement, the SDK prints a multi-line
 * NodeVersionSupportWarning (process.emitWarning, on stderr) at the first client of every
 * process, among the app's JSON log lines. Its own switch turns that warning alone off; the line
 * returned is said in the app's log instead. Null on a Node the SDK keeps supporting, or when
 * the operator set the switch (they have seen it). Call before the first S3Client is made.
 */
export function quietSdkNodeWarning (version = process.versions.node): string | null {
  if (Number(version.split('.')[0]) >= SDK_NODE_MAJOR) return null
  if (process.env[SDK_NODE_WARNING_OFF] !== undefined && !quietedHere) return null
  process.env[SDK_NODE_WARNING_OFF] = 'true'
  quietedHere = true
  return `Node ${version} is past its end of support for the AWS SDK: its releases after the first week of January 2027 need Node ${SDK_NODE_MAJOR} or later. Upgrade to Node ${SDK_NODE_MAJOR} to keep receiving its S3 fixes.`
}
let quietedHere = false

interface Failure { name?: string, $metadata?: { httpStatusCode?: number } }
const statusOf = (error: unknown): number | undefined => (error as Failure | null)?.$metadata?.httpStatusCode

/** The bucket and the prefix the store's objects live under, with the client that reaches them. */
interface Bucket {
  client: S3Client
  bucket: string
  /** The prefix with its trailing slash, or '' for the bucket's root. */
  base: string
}
type Listed = _Object & { name: string }

const objectKey = (b: Bucket, name: string): string => `${b.base}${name}`

/**
 * An S3-compatible bucket under a prefix, with the folder store's guarantees: uploads are checked
 * and hashed while they stream, and an object appears at its random key only once its upload
 * completes, which happens only after the checks passed (a refused or cut-off upload is aborted
 * and leaves no object). So receive() writes the final key and commit() has nothing to rename: a
 * copy from a temporary key would read every byte again and is limited to 5 GiB per request.
 */
export function createS3Store (config: S3Config, options: { uploadAllowanceMs: number, notice?: (message: string) => void }): ObjectStore {
  const { bucket, prefix } = config
  const nodeNotice = quietSdkNodeWarning()
  if (nodeNotice !== null) options.notice?.(nodeNotice)
  const client = new S3Client({
    region: config.region,
    endpoint: config.endpoint,
    forcePathStyle: config.forcePathStyle,
    credentials: config.credentials,
    // Since 3.729 the SDK adds CRC32 checksums to every upload by default, which several
    // S3-compatible servers refuse (aws-sdk-js-v3#6810); the signed payload hash still covers the bytes.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED'
  })
  const b: Bucket = { client, bucket, base: prefix === '' ? '' : `${prefix}/` }
  const missing = new Set<string>()
  const url = `s3://${bucket}${prefix === '' ? '' : `/${prefix}`}`

  return {
    kind: 's3',
    location: `STORAGE_URL ${url}`,
    variable: 'STORAGE_URL',
    quarantineLocation: `${url}/${QUARANTINE}/`,
    receive: async (stream, receiveOptions) => await receive(b, stream, receiveOptions),
    async commit () {
      // receive() completed the upload at the key once the checks passed: nothing to move.
    },
    discard: async (file) => { await remove(b, file.key) },
    remove: async (key) => { await remove(b, key) },
    async keys () {
      const names: string[] = []
      for await (const object of list(b)) if (!object.name.startsWith('.')) names.push(object.name)
      return names
    },
    removeTemporary: async () => await removeTemporary(b, Date.now() - options.uploadAllowanceMs - 60_000),
    sweep: async (referenced) => await sweep(b, referenced),
    readStoreId: async () => await readStoreId(b),
    claim: async (id) => await claim(b, id),
    async exists (key) {
      const found = await sizeOf(b, key) !== undefined
      if (found) missing.delete(key)
      else missing.add(key)
      return found
    },
    missing,
    validators: async (key) => await validators(b, key),
    async check () {
      try {
        await client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) })
        return true
      } catch {
        return false
      }
    },
    async close () {
      client.destroy()
    },
    read: async (key, conditions, head) => await read(b, key, conditions, head),
    async presign (key, { fileName, contentType, seconds }) {
      return await getSignedUrl(client, new GetObjectCommand({
        Bucket: bucket,
        Key: objectKey(b, key),
        ResponseContentDisposition: attachment(fileName),
        ResponseContentType: contentType
      }), { expiresIn: seconds })
    }
  }
}

/** The objects directly under the prefix (not those under .quarantine/), page by page. */
async function * list (b: Bucket): AsyncGenerator<Listed> {
  let token: string | undefined
  do {
    const page = await b.client.send(new ListObjectsV2Command({ Bucket: b.bucket, Prefix: b.base, Delimiter: '/', ContinuationToken: token }))
    for (const object of page.Contents ?? []) {
      if (object.Key !== undefined) yield { ...object, name: object.Key.slice(b.base.length) }
    }
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined
  } while (token !== undefined)
}

async function remove (b: Bucket, key: string): Promise<void> {
  // S3 answers a delete of a missing key with success: removing twice is harmless.
  await b.client.send(new DeleteObjectCommand({ Bucket: b.bucket, Key: objectKey(b, key) }))
}

async function readStoreId (b: Bucket): Promise<string | undefined> {
  // An empty marker is being written by another instance (s3rver's writes are not atomic).
  for (let attempt = 0; ; attempt++) {
    try {
      const id = (await (await b.client.send(new GetObjectCommand({ Bucket: b.bucket, Key: objectKey(b, MARKER) }))).Body!.transformToString('utf8')).trim()
      if (id !== '' || attempt >= 20) return id === '' ? undefined : id
    } catch (error) { if (statusOf(error) === 404) return undefined; throw error }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function claim (b: Bucket, id: string): Promise<string> {
  const existing = await readStoreId(b)
  if (existing !== undefined) return existing
  try {
    // Written only if no marker exists (a conditional write, S3 and MinIO): of two instances
    // binding a new prefix at once, one wins. A server that ignores the condition (s3rver)
    // lets the later write win; the read below then tells the loser.
    await b.client.send(new PutObjectCommand({ Bucket: b.bucket, Key: objectKey(b, MARKER), Body: `${id}\n`, ContentType: 'text/plain', IfNoneMatch: '*' }))
  } catch (error) {
    if (statusOf(error) !== 412 && statusOf(error) !== 409) throw error
  }
  return (await readStoreId(b))!
}

/** Size of an object, for a 416's Content-Range; undefined when it is gone. */
async function sizeOf (b: Bucket, key: string): Promise<number | undefined> {
  try {
    return (await b.client.send(new HeadObjectCommand({ Bucket: b.bucket, Key: objectKey(b, key) }))).ContentLength
  } catch (error) {
    if (statusOf(error) === 404) return undefined
    throw error
  }
}

async function validators (b: Bucket, key: string): Promise<FileValidators | undefined> {
  try {
    const head = await b.client.send(new HeadObjectCommand({ Bucket: b.bucket, Key: objectKey(b, key) }))
    return { size: head.ContentLength ?? 0, modified: head.LastModified ?? new Date(0), etag: head.ETag ?? null }
  } catch (error) {
    if (statusOf(error) === 404) return undefined
    throw error
  }
}

const httpDate = (raw: string | undefined): Date | undefined => {
  if (raw === undefined) return undefined
  const date = new Date(raw)
  return Number.isNaN(date.getTime()) ? undefined : date
}

/** ObjectStore.read: a GET (or HEAD) with the client's Range and conditions turned into S3's. */
async function read (b: Bucket, key: string, conditions: ReadConditions, head = false, honourIfRange = true): Promise<ObjectRead | 'missing'> {
  // One byte range, as @fastify/send serves for the folder: several ranges or a malformed
  // header get the whole file.
  const asked = conditions.range?.trim()
  let range = asked !== undefined && /^bytes=(\d+-\d*|-\d+)$/.test(asked) ? asked : undefined
  // If-Range: the range only if the object is still the one the client has; S3 has no If-Range,
  // so its validator becomes a condition, and a 412 means "send it whole" (below).
  const ifRange = range !== undefined && honourIfRange ? conditions.ifRange : undefined
  if (range !== undefined && !honourIfRange) range = undefined
  const ifRangeIsTag = ifRange?.includes('"') === true
  const params = {
    Bucket: b.bucket,
    Key: objectKey(b, key),
    Range: range,
    IfMatch: conditions.ifMatch ?? (ifRangeIsTag ? ifRange : undefined),
    IfNoneMatch: conditions.ifNoneMatch,
    IfModifiedSince: httpDate(conditions.ifModifiedSince),
    IfUnmodifiedSince: httpDate(conditions.ifUnmodifiedSince) ?? (ifRange !== undefined && !ifRangeIsTag ? httpDate(ifRange) : undefined)
  }
  try {
    const answer = head
      ? await b.client.send(new HeadObjectCommand(params))
      : await b.client.send(new GetObjectCommand(params))
    return answered(answer)
  } catch (error) {
    const status = statusOf(error)
    if (status === 404) return 'missing'
    if (status === 304) return { status: 304, headers: {}, body: null }
    if (status === 412) {
      if (ifRange !== undefined && conditions.ifMatch === undefined && conditions.ifUnmodifiedSince === undefined) {
        return await read(b, key, conditions, head, false)
      }
      return { status: 412, headers: {}, body: null }
    }
    if (status === 416) {
      const size = await sizeOf(b, key)
      if (size === undefined) return 'missing'
      return { status: 416, headers: { 'content-range': `bytes */${size}` }, body: null }
    }
    throw error
  }
}

/** The status, headers and body to pass on from S3's answer to a GET or HEAD. */
function answered (answer: HeadObjectCommandOutput | GetObjectCommandOutput): ObjectRead {
  const headers: Record<string, string> = { 'accept-ranges': 'bytes' }
  // The type stored with the object at upload (a cover's image type): a nosniff answer without
  // one is not shown by browsers. A route may name its own (a PDF's attachment).
  if (answer.ContentType !== undefined) headers['content-type'] = answer.ContentType
  if (answer.ContentLength !== undefined) headers['content-length'] = String(answer.ContentLength)
  if (answer.ContentRange !== undefined) headers['content-range'] = answer.ContentRange
  if (answer.ETag !== undefined) headers.etag = answer.ETag
  if (answer.LastModified !== undefined) headers['last-modified'] = answer.LastModified.toUTCString()
  const status = answer.$metadata.httpStatusCode === 206 || answer.ContentRange !== undefined ? 206 : 200
  const body = 'Body' in answer && answer.Body !== undefined ? answer.Body as Readable : null
  return { status, headers, body }
}

/**
 * Streams the file into a multipart upload at its final key, checked and hashed on the way. The
 * upload starts once the inspector has named the file's type (the key's extension), and
 * completes only after the last check passed; a refused file aborts it.
 */
async function receive (b: Bucket, stream: Readable, options: ReceiveOptions): Promise<PendingFile> {
  const id = randomUUID()
  const inspector = new Inspector(options)
  // What the upload reads. Destroying it with an error makes the upload abort (its multipart
  // upload included) instead of completing with what it has.
  const body = new PassThrough()
  body.on('error', () => {}) // the upload reports it
  let key: string | undefined
  let uploaded: Promise<unknown> | undefined
  inspector.on('problem', (problem: Error) => { body.destroy(problem) })

  // The first bytes wait until the inspector has named the file's type (the key's extension).
  const head: Buffer[] = []
  const flushHead = async (): Promise<void> => {
    if (uploaded === undefined) {
      const extension = inspector.extension!
      key = `${id}.${extension}`
      uploaded = upload(b, key, body, CONTENT_TYPES[extension])
    }
    for (const piece of head.splice(0)) await write(body, piece)
  }

  try {
    await pipeline(stream, inspector, async (checked: AsyncIterable<Buffer>) => {
      for await (const chunk of checked) {
        if (inspector.extension === undefined) { head.push(chunk); continue }
        await flushHead()
        await write(body, chunk)
      }
    })
  } catch (error) {
    body.destroy(error as Error)
    await uploaded?.catch(() => {})
    throw error
  }
  // @fastify/multipart ends a file stream early, flagged truncated, at its size limit.
  const problem = (stream as Readable & { truncated?: boolean }).truncated === true ? tooLarge(options) : inspector.problem
  if (problem !== undefined) {
    body.destroy(problem)
    // The abort of a multipart upload is best-effort (s3rver does not implement it); the
    // bucket's lifecycle rule and removeTemporary() clean up what it leaves.
    await uploaded?.catch(() => {})
    throw problem
  }
  await flushHead() // a file shorter than the inspector's look-ahead
  body.end()
  await uploaded
  return { key: key!, tempPath: null, size: inspector.size, sha256: inspector.digest() }
}

/** Starts the multipart upload of `body` at `key`; a failed upload stops taking bytes. */
function upload (b: Bucket, key: string, body: PassThrough, contentType: string | undefined): Promise<unknown> {
  const done = new Upload({
    client: b.client,
    params: { Bucket: b.bucket, Key: objectKey(b, key), Body: body, ContentType: contentType },
    partSize: PART_SIZE,
    queueSize: QUEUE,
    leavePartsOnError: false
  }).done()
  // The rest of the file is then read and dropped.
  done.catch((error: unknown) => { body.destroy(error as Error) })
  return done
}

/** Writes a chunk, waiting while the upload is behind (or until it stopped). */
async function write (body: PassThrough, chunk: Buffer): Promise<void> {
  if (body.destroyed || body.write(chunk)) return
  await new Promise<void>((resolve) => {
    const go = (): void => { body.off('drain', go); body.off('close', go); resolve() }
    body.on('drain', go)
    body.on('close', go)
  })
}

/**
 * Multipart uploads begun before `before`, which no instance can still be sending (older than
 * the longest request allows), are aborted; a younger one may be another instance's upload in
 * progress.
 */
async function removeTemporary (b: Bucket, before: number): Promise<number> {
  let aborted = 0
  let keyMarker: string | undefined
  let uploadIdMarker: string | undefined
  do {
    let page
    try {
      page = await b.client.send(new ListMultipartUploadsCommand({ Bucket: b.bucket, Prefix: b.base, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }))
    } catch (error) {
      // A server without the call (s3rver) or a key without the permission: the bucket's
      // lifecycle rule (README) is then what removes unfinished uploads.
      if (statusOf(error) === 501 || statusOf(error) === 403) return aborted
      throw error
    }
    for (const upload of page.Uploads ?? []) {
      if (upload.Initiated !== undefined && upload.Initiated.getTime() < before) {
        await b.client.send(new AbortMultipartUploadCommand({ Bucket: b.bucket, Key: upload.Key, UploadId: upload.UploadId }))
        aborted += 1
      }
    }
    keyMarker = page.IsTruncated === true ? page.NextKeyMarker : undefined
    uploadIdMarker = page.NextUploadIdMarker
  } while (keyMarker !== undefined)
  return aborted
}

/** FileStore.sweep for a bucket: S3 cannot rename, so a copy under .quarantine/, then a delete. */
async function sweep (b: Bucket, referenced: () => Promise<ReadonlySet<string>>): Promise<SweepResult> {
  const objects: Listed[] = []
  for await (const object of list(b)) if (isKey(object.name)) objects.push(object)
  const known = await referenced()
  const quarantined: string[] = []
  const left: string[] = []
  const now = Date.now()
  for (const object of objects) {
    const { name } = object
    if (known.has(name)) continue
    const age = now - (object.LastModified?.getTime() ?? now)
    if (age > SWEEP_MIN_AGE_MS && age < SWEEP_MAX_AGE_MS && (object.Size ?? 0) <= MAX_COPY_BYTES) {
      try {
        await b.client.send(new CopyObjectCommand({ Bucket: b.bucket, Key: objectKey(b, `${QUARANTINE}/${name}`), CopySource: `${b.bucket}/${objectKey(b, name)}` }))
      } catch (error) {
        if (statusOf(error) === 404) continue // removed meanwhile (an item deleted)
        throw error
      }
      await remove(b, name)
      quarantined.push(name)
    } else {
      left.push(name)
    }
  }
  return { quarantined, left }
}
