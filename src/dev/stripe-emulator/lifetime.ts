/**
 * What ends when the emulator closes: timers (webhook retries, bank transfers settling) and
 * in-flight webhook requests. After close nothing scheduled runs and nothing new is sent.
 */
export class Lifetime {
  #closed = false
  readonly #timers = new Set<NodeJS.Timeout>()
  // Aborted by end() so an in-flight webhook POST cannot outlive the emulator.
  readonly #shutdown = new AbortController()

  get closed (): boolean {
    return this.#closed
  }

  get signal (): AbortSignal {
    return this.#shutdown.signal
  }

  /** Runs fn after ms unless the emulator closes first; the timer never keeps the process alive. */
  schedule (ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      if (!this.#closed) fn()
    }, ms)
    timer.unref()
    this.#timers.add(timer)
    return timer
  }

  cancel (timer: NodeJS.Timeout): void {
    clearTimeout(timer)
    this.#timers.delete(timer)
  }

  end (): void {
    this.#closed = true
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    this.#shutdown.abort()
  }
}
