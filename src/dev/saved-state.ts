import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

/**
 * A demo stand-in's state kept in one JSON file (data/demo-stripe.json, data/demo-mollie.json), so
 * a restarted demo still knows the payments its orders point at: read once at start, written
 * whole after every change (a temporary file renamed over the old one, so a crash never leaves
 * half a file). Demo only: nothing here is fit for real money.
 */
export interface SavedState<T> {
  /** What the file held at start, or undefined (no file yet, or one this version cannot read). */
  readonly loaded: T | undefined
  /** Writes the current state now. */
  save(): void
}

export function savedState<T> (file: string, version: number, current: () => T, log: (msg: string) => void): SavedState<T> {
  let loaded: T | undefined
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown, state?: T }
    if (parsed.version === version) loaded = parsed.state
    else log(`demo: ${file} was written by another version; starting empty`)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log(`demo: could not read ${file} (${String(err)}); starting empty`)
  }
  return {
    loaded,
    save: () => {
      try {
        mkdirSync(dirname(file), { recursive: true })
        const temporary = `${file}.${process.pid}.tmp`
        writeFileSync(temporary, JSON.stringify({ version, state: current() }))
        renameSync(temporary, file)
      } catch (err) {
        log(`demo: could not write ${file}: ${String(err)}`)
      }
    }
  }
}
