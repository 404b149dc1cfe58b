import { readFileSync } from 'node:fs'
import { parseEnv } from 'node:util'
import { ConfigError, type Config, loadConfig } from './config.js'
import { lookalikeWarnings } from './config/names.js'

/** Prints every problem of a refused config, one line each naming its variable. */
export function printConfigError (error: ConfigError, suffix = ''): void {
  for (const problem of error.problems) console.error(`Configuration error: ${problem.message}${suffix}`)
}

/**
 * Reads `.env` when present (the environment wins over it). Returns the names `.env` set, or
 * prints one line and exits 1 when it cannot be read.
 */
export function loadEnvFile (path = '.env'): Set<string> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Set()
    console.error(`Could not read .env: ${(error as Error).message}`)
    process.exit(1)
  }
  try {
    process.loadEnvFile(path)
  } catch (error) {
    console.error(`Could not read .env: ${(error as Error).message}`)
    process.exit(1)
  }
  return new Set(Object.keys(parseEnv(text)))
}

/**
 * Reads `.env` and the config, warning about names that look like settings but are not; on a
 * refused config prints every problem, one line each naming its variable, and exits 1.
 */
export function configFromEnvironment (): Config {
  const fromFile = loadEnvFile()
  for (const warning of lookalikeWarnings(process.env, fromFile)) console.error(`Configuration warning: ${warning}`)
  try {
    return loadConfig(process.env)
  } catch (error) {
    if (error instanceof ConfigError) {
      printConfigError(error)
      process.exit(1)
    }
    throw error
  }
}
