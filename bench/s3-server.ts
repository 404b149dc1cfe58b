// The S3-compatible server of the PostgreSQL + S3 configuration (s3rver, as the tests start it
// with test/helpers/s3.ts), in a process of its own like the app: it must not share the event
// loop of the bench's download clients. Prints "s3 ready <endpoint>"; SIGTERM closes it and
// removes its folder.
import { startS3 } from '../test/helpers/s3.js'

const closers: Array<() => unknown> = []
const s3 = await startS3({ teardown: (fn) => { closers.push(fn) } })
const stop = async (): Promise<void> => {
  for (const close of closers) await close()
  process.exit(0)
}
process.on('SIGTERM', () => { stop().catch(() => process.exit(1)) })
process.on('SIGINT', () => { stop().catch(() => process.exit(1)) })
console.log(`s3 ready ${s3.endpoint}`)
