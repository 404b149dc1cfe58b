import { simpleParser } from 'mailparser'
import { SMTPServer } from 'smtp-server'
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

export interface SmtpLog {
  url: string
  /** Every message received so far, in arrival order: its envelope recipients, subject and text part. */
  received(): Array<{ to: string[], subject: string, text: string }>
  /** Waits (bounded) until at least `count` messages arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<void>
}

/**
 * A real SMTP server on 127.0.0.1 that keeps every message's recipients and subject, however
 * many arrive (the demo's catcher keeps the newest 200): for counting receipts in a storm. With
 * `auth` it is a relay that takes mail only after AUTH with that user and password (over plain
 * SMTP: loopback only), the URL carrying them as SMTP_URL would.
 */
export async function smtpLog (t: TestContext, options: { auth?: { user: string, pass: string } } = {}): Promise<SmtpLog> {
  const received: Array<{ to: string[], subject: string, text: string }> = []
  const { auth } = options
  const server = new SMTPServer({
    authOptional: auth === undefined,
    allowInsecureAuth: true,
    disabledCommands: auth === undefined ? ['STARTTLS', 'AUTH'] : ['STARTTLS'],
    logger: false,
    onAuth (attempt, _session, callback) {
      if (auth !== undefined && attempt.username === auth.user && attempt.password === auth.pass) callback(null, { user: auth.user })
      else callback(new Error('Invalid username or password'))
    },
    onData (stream, session, callback) {
      simpleParser(stream).then((parsed) => {
        received.push({ to: session.envelope.rcptTo.map((rcpt) => rcpt.address), subject: parsed.subject ?? '', text: parsed.text ?? '' })
        callback()
      }, (error: Error) => { callback(error) })
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  // smtp-server emits a client's broken connection as its own 'error': an instance SIGKILLed
  // while sending mail resets its connection, which is no failure of the test's mail server
  // (without a listener it was an uncaught ECONNRESET that failed the scale-out test now and then).
  server.on('error', () => {})
  t.teardown(async () => { await new Promise<void>((resolve) => { server.close(() => { resolve() }) }) })
  const address = server.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const credentials = auth === undefined ? '' : `${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.pass)}@`
  return {
    url: `smtp://${credentials}127.0.0.1:${port}`,
    received: () => [...received],
    async waitFor (count, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} messages within ${timeoutMs} ms, got ${received.length}`)
        await sleep(50)
      }
    }
  }
}
