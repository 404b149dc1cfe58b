import { simpleParser } from 'mailparser'
import { SMTPServer } from 'smtp-server'

/** One caught message, as /dev/mail and the tests read it. */
export interface CaughtMail {
  id: number
  /** The SMTP envelope: who the message was really sent to (not what its headers say). */
  envelope: { from: string | null, to: string[] }
  from: string
  to: string
  subject: string
  date: string
  /** Every header line as received, for the header-injection tests. */
  headerLines: string[]
  html: string | null
  text: string
}

export interface MailCatcher {
  /** smtp://127.0.0.1:<port>, for SMTP_URL. */
  url: string
  port: number
  /** Newest first. */
  messages(): CaughtMail[]
  close(): Promise<void>
}

const KEPT = 200

/**
 * A real SMTP server on loopback that keeps what it receives in memory, parsed with mailparser:
 * the demo's mail catcher and the tests' SMTP server. No TLS and no AUTH (loopback only), so any
 * SMTP client, nodemailer included, talks to it as to a plain relay.
 */
export async function startMailCatcher (options: { port?: number } = {}): Promise<MailCatcher> {
  const caught: CaughtMail[] = []
  let next = 1
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    size: 5 * 1024 * 1024,
    onData (stream, session, callback) {
      simpleParser(stream).then((parsed) => {
        const address = (value: typeof parsed.to): string => value === undefined ? '' : (Array.isArray(value) ? value.map((a) => a.text).join(', ') : value.text)
        caught.unshift({
          id: next++,
          envelope: {
            from: session.envelope.mailFrom === false ? null : session.envelope.mailFrom.address,
            to: session.envelope.rcptTo.map((rcpt) => rcpt.address)
          },
          from: address(parsed.from),
          to: address(parsed.to),
          subject: parsed.subject ?? '',
          date: (parsed.date ?? new Date()).toISOString(),
          headerLines: parsed.headerLines.map((line) => line.line),
          html: parsed.html === false ? null : (parsed.html ?? null),
          text: parsed.text ?? ''
        })
        if (caught.length > KEPT) caught.length = KEPT
        callback()
      }, (error: Error) => { callback(error) })
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  const address = server.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages: () => [...caught],
    close: async () => { await new Promise<void>((resolve) => { server.close(() => { resolve() }) }) }
  }
}
