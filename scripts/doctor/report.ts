// What npm run doctor found: problems (each naming its variable), warnings, and what is fine.

export class Report {
  readonly problems: string[] = []
  readonly warnings: string[] = []
  readonly fine: string[] = []
  /** Extra lines printed as they are (the signing secret --create-webhook made). */
  readonly notices: string[] = []
  /** Set by --create-webhook once it created the endpoint: the one change the doctor ever makes. */
  createdWebhook = false

  problem (variable: string, text: string): void { this.problems.push(`${variable}: ${text}`) }
  warn (text: string): void { this.warnings.push(text) }
  ok (text: string): void { this.fine.push(text) }
  notice (text: string): void { this.notices.push(text) }

  /** The lines to print, and the exit code: 1 when there is any problem. */
  render (): { lines: string[], code: 0 | 1 } {
    const lines = [...this.notices, ...this.warnings.map((warning) => `warning: ${warning}`)]
    if (this.problems.length > 0) {
      const count = this.problems.length
      return { lines: [...lines, ...this.problems, `${count} problem${count === 1 ? '' : 's'} found; ${this.createdWebhook ? 'only the webhook endpoint above was created' : 'nothing was changed'}.`], code: 1 }
    }
    return { lines: [...lines, ...this.fine.map((line) => `ok  ${line}`), 'No problems found.'], code: 0 }
  }
}

/** An error's code and message, for a line: never a stack, never a URL's password (callers pass none). */
export function reason (error: unknown): string {
  const e = error as { code?: unknown, message?: unknown }
  const code = typeof e.code === 'string' ? ` (${e.code})` : ''
  const message = typeof e.message === 'string' && e.message !== '' ? e.message.split('\n')[0]! : String(error)
  return `${message}${code}`
}
