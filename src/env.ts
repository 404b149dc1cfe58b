import { ConfigError, type Config, loadConfig } from './config.js'

/**
 * Reads `.env` when present (the environment wins over it) and the config, or prints one line
 * naming the bad variable and exits 1.
 */
export function configFromEnvironment (): Config {
  try {
    process.loadEnvFile('.env')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      console.error(`Could not read .env: ${(error as Error).message}`)
      process.exit(1)
    }
  }
  try {
    return loadConfig(process.env)
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`Configuration error: ${error.message}`)
      process.exit(1)
    }
    throw error
  }
}
