import { mkdtemp, rm, utimes } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import S3rver from 's3rver'
import type { TestContext } from './build.js'

export const BUCKET = 'market'

export interface S3Server {
  /** S3_ENDPOINT of the server. */
  endpoint: string
  /** The variables an app needs to keep its files under `s3://market/<prefix>` on this server. */
  env(prefix: string): Record<string, string>
  /** A client of the server, for looking at the bucket behind the app's back. */
  client: S3Client
  /** Every key under a prefix (a trailing slash is added), sorted. */
  keys(prefix: string): Promise<string[]>
  /** Makes an object look `ms` old (s3rver's Last-Modified is its file's mtime). */
  age(key: string, ms: number): Promise<void>
  close(): Promise<void>
}

/**
 * A real S3-compatible server (s3rver) on a free loopback port, keeping its objects in a temporary
 * folder, with one bucket; closed and removed in teardown.
 */
export async function startS3 (t: TestContext): Promise<S3Server> {
  const directory = await mkdtemp(join(tmpdir(), 'market-s3-'))
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: BUCKET, configs: [] }] })
  const address = await server.run()
  const endpoint = `http://127.0.0.1:${address.port}`
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED'
  })
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    client.destroy()
    await server.close()
    await rm(directory, { recursive: true, force: true })
  }
  t.teardown(close)

  async function keys (prefix: string): Promise<string[]> {
    const found: string[] = []
    let token: string | undefined
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/`, ContinuationToken: token }))
      for (const object of page.Contents ?? []) found.push(object.Key!)
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined
    } while (token !== undefined)
    return found.sort()
  }

  return {
    endpoint,
    env: (prefix) => ({
      STORAGE_URL: `s3://${BUCKET}/${prefix}`,
      S3_ENDPOINT: endpoint,
      S3_FORCE_PATH_STYLE: '1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER'
    }),
    client,
    keys,
    async age (key, ms) {
      const parts = key.split('/')
      const time = new Date(Date.now() - ms)
      await utimes(join(directory, BUCKET, ...parts.slice(0, -1), `${parts.at(-1)!}._S3rver_object`), time, time)
    },
    close
  }
}
