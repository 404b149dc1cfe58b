import { type CaughtMail, type MailCatcher, startMailCatcher } from '../../src/dev/mail-catcher/index.js'
import type { TestContext } from './build.js'
import { freePort, sleep } from './net.js'

export interface SmtpServer extends MailCatcher {
  /** Waits (bounded) until at least `count` messages arrived; newest first, like messages(). */
  waitFor(count: number, timeoutMs?: number): Promise<CaughtMail[]>
}

/**
 * A real SMTP server on 127.0.0.1 for a test (the demo's catcher: smtp-server, parsed with
 * mailparser), closed in teardown. `port` starts it where an app already points (SMTP back up).
 */
export async function smtpServer (t: TestContext, port?: number): Promise<SmtpServer> {
  const catcher = await startMailCatcher({ port })
  let closed = false
  const close = async (): Promise<void> => { if (!closed) { closed = true; await catcher.close() } }
  t.teardown(close)
  return {
    ...catcher,
    close,
    async waitFor (count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs
      while (catcher.messages().length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} messages within ${timeoutMs} ms, got ${catcher.messages().length}`)
        await sleep(25)
      }
      return catcher.messages()
    }
  }
}

/** A loopback SMTP URL where nothing listens yet (SMTP down), and its port for starting it later. */
export async function closedSmtp (): Promise<{ url: string, port: number }> {
  const port = await freePort()
  return { url: `smtp://127.0.0.1:${port}`, port }
}

/** The /d/<token> part of a mail's text. */
export function linkToken (text: string): string {
  const match = /\/d\/([A-Za-z0-9_.-]+)/.exec(text)
  if (match === null) throw new Error(`no download link in:\n${text}`)
  return match[1]!
}
