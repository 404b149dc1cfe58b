import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { buildApp } from './app.js'
import { ConfigError } from './config.js'
import { configFromEnvironment, printConfigError } from './env.js'
import { loggerOptions, prettyLogs } from './logging.js'

const config = configFromEnvironment()
let app: FastifyInstance
try {
  app = await buildApp(config, { logger: loggerOptions(config.logLevel, { pretty: prettyLogs(process.stdout, config.production) }) })
} catch (error) {
  // Found at start-up (a database beside another store's files): one line, like env.ts's.
  if (error instanceof ConfigError) {
    printConfigError(error)
    process.exit(1)
  }
  throw error
}

// SIGTERM/SIGINT: stop accepting, let running requests finish (bounded), close the database.
closeWithGrace({ delay: Number(process.env.SHUTDOWN_GRACE_MS ?? 20_000) }, async ({ signal, err }) => {
  if (err !== undefined) app.log.error({ err }, 'shutting down after an error')
  else app.log.info({ signal }, 'shutting down')
  // close() waits for every connection to end, and Node closes idle keep-alive connections only
  // once, when close() starts: a connection whose download or upload finishes later would stay
  // open, idle, and hold the exit until the grace period runs out. Sweep them as they go idle.
  const sweep = setInterval(() => { app.server.closeIdleConnections() }, 100)
  try {
    await app.close()
  } finally {
    clearInterval(sweep)
  }
})

try {
  await app.listen({ port: config.port, host: config.host })
} catch (error) {
  const code = (error as NodeJS.ErrnoException).code
  // An operator's mistake gets one line naming the variable, like any other config error.
  if (code === 'EADDRINUSE') console.error(`Configuration error: PORT: ${config.port} is already in use on ${config.host}`)
  else if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') console.error(`Configuration error: HOST: cannot listen on ${config.host}`)
  else if (code === 'EACCES') console.error(`Configuration error: PORT: not allowed to listen on port ${config.port}`)
  else app.log.error({ err: error }, 'could not start listening')
  await app.close()
  process.exit(1)
}

if (app.demoConsole !== null) {
  // What is stood in and how to go live, then how to use the demo (src/dev/demo.ts says which).
  const [warning, ...lines] = app.demoConsole
  app.log.warn(warning)
  console.log(`\n${lines.map((line) => `  ${line}`).join('\n')}\n`)
}
