import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest, type FastifyServerOptions, type RequestPayload } from 'fastify'
import type { AppConfig, Config } from './config.js'
import type { MailCatcher } from './dev/mail-catcher/index.js'
import { isDemo, uploadAllowanceMs } from './config.js'
import machine from './machine.js'
import audience from './modules/audience/plugin.js'
import catalog from './modules/catalog/plugin.js'
import database from './db/plugin.js'
import delivery from './modules/delivery/plugin.js'
import files from './storage/plugin.js'
import items from './modules/items/plugin.js'
import library from './modules/library/plugin.js'
import mailer from './modules/mail/plugin.js'
import metrics from './modules/metrics/plugin.js'
import pdf, { type PdfPool } from './modules/pdf/plugin.js'
import purchase from './modules/purchase/plugin.js'
import sales from './modules/desk/plugin.js'
import settings from './modules/settings/plugin.js'
import { checkStoreCurrency } from './modules/settings/store-currency.js'
import sweep from './storage/sweep-plugin.js'
import users from './modules/accounts/plugin.js'
import site from './site.js'

export interface BuildOptions {
  /** Fastify's logger option; the server passes its pino settings, tests usually turn it off. */
  logger?: FastifyServerOptions['logger']
  /** The clock of the webhooks' bounds, in milliseconds (default Date.now): tests move it instead of waiting. */
  now?: () => number
  /** How often the content store is swept (default hourly); tests make it short. */
  sweepIntervalMs?: number
  /**
   * PDF jobs (page images, samples, stamped copies): run in the background as soon as they are
   * written (the default), or only when a request waits for one ('on-demand': the test harness,
   * so a test's store holds only the files it caused).
   */
  pdfJobs?: 'background' | 'on-demand'
  /** The PDF engine's worker threads, when several apps of one process share them (tests); else the app's own. */
  pdfPool?: PdfPool
}

/** The one entry to the application. It never listens, so tests can `inject`. */
export async function buildApp (config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    // Uploads are streamed by @fastify/multipart; the limit here covers every other body.
    bodyLimit: 1024 * 1024,
    // Only a proxy named in TRUST_PROXY may set the client address (rate limits are per client):
    // believing anyone's X-Forwarded-For would let a client pick a fresh address per request.
    // (Fastify takes a hop count too; its type does not list numbers.)
    trustProxy: config.trustProxy as boolean | string[],
    // A connection that goes quiet is closed; a request must arrive whole within the upload
    // allowance (the longest any route needs); every other route has a shorter body deadline.
    connectionTimeout: 60_000,
    requestTimeout: uploadAllowanceMs(config),
    requestIdHeader: false,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 }
  })

  // Demo stand-ins start first: the OAuth and Stripe plugins need their URLs. They are loaded
  // only in demo mode, so production never imports src/dev/.
  let appConfig: AppConfig
  let mailCatcher: MailCatcher | null = null
  let demoRoutes: FastifyPluginAsync | null = null
  let demoConsole: string[] | null = null
  if (isDemo(config)) {
    const { startDemo } = await import('./dev/demo.js')
    const demo = await startDemo(config, () => listeningUrl(app))
    app.addHook('onClose', demo.close)
    appConfig = demo.config
    mailCatcher = demo.mailCatcher
    demoRoutes = demo.routes
    demoConsole = demo.consoleLines
  } else {
    appConfig = { ...config, demo: null }
  }
  // Email sign-in is in force only where mail goes out (SMTP_URL, or the demo's catcher).
  appConfig = { ...appConfig, emailSignIn: appConfig.emailSignIn && appConfig.smtpUrl !== null }
  app.decorate('config', appConfig)
  app.decorate('mailCatcher', mailCatcher)
  app.decorate('demoConsole', demoConsole)
  app.addHook('preParsing', bodyDeadline)

  // How long the server itself took, for browsers' developer tools and the benchmark
  // (bench/run.ts): Fastify's elapsed time when the reply is about to be sent.
  // The same moment feeds the metrics (METRICS_TOKEN set): one hook for both, since a hook of
  // its own cost the catalogue about 8 % of its rate.
  app.addHook('onSend', (request, reply, payload, done) => {
    const elapsed = reply.elapsedTime
    reply.header('server-timing', `app;dur=${elapsed.toFixed(2)}`)
    app.metrics?.observe(request, reply.statusCode, elapsed / 1000)
    done(null, payload)
  })

  // The app's services, shared by both contexts.
  // Before anything sells or a file is looked at: one currency per store.
  await app.register(database, { checks: [async (handle) => { await checkStoreCurrency(handle, config.currency) }] })
  await app.register(files)
  await app.register(pdf, { background: options.pdfJobs !== 'on-demand', pool: options.pdfPool })
  await app.register(catalog)
  await app.register(items)
  await app.register(library)
  await app.register(sweep, { intervalMs: options.sweepIntervalMs })
  await app.register(users)
  await app.register(settings)
  await app.register(purchase)
  await app.register(delivery)
  await app.register(sales)
  await app.register(audience)
  await app.register(mailer)
  // Before the contexts: its hook times every route of both.
  await app.register(metrics)

  // Two sibling contexts: machine endpoints (JSON, raw bodies) and the site (session, pages).
  await app.register(machine, { now: options.now })
  await app.register(site)
  // Demo mode: the stand-ins' pages under /dev/ on the app's own origin (their own context).
  if (demoRoutes !== null) await app.register(demoRoutes)

  return app
}

const BODY_DEADLINE_MS = 30_000

/**
 * A body trickled in a byte at a time would hold a connection for the whole request timeout;
 * forms and webhooks are small, so they get a short deadline and the upload route a long one
 * (its route config `bodyDeadlineMs`).
 */
function bodyDeadline (request: FastifyRequest, reply: FastifyReply, payload: RequestPayload, done: (error: Error | null, payload?: RequestPayload) => void): void {
  const headers = request.headers
  if (headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) { done(null, payload); return }
  const ms = request.routeOptions.config.bodyDeadlineMs ?? BODY_DEADLINE_MS
  const timer = setTimeout(() => {
    // The body reader gives up with a 408, and the connection is closed after the answer
    // rather than kept for a body that is still trickling in.
    reply.header('connection', 'close')
    payload.emit('error', Object.assign(new Error('The request took too long to arrive. Please try again.'), { statusCode: 408, code: 'BODY_DEADLINE' }))
  }, ms)
  timer.unref()
  const clear = (): void => { clearTimeout(timer) }
  payload.once('end', clear)
  payload.once('close', clear)
  reply.raw.once('finish', clear)
  done(null, payload)
}

/** Where this app can be reached from the same machine once it listens (for demo webhooks). */
function listeningUrl (app: FastifyInstance): string | undefined {
  const address = app.server.address()
  if (address === null || typeof address === 'string') return undefined
  const host = address.family === 'IPv6' ? `[${address.address === '::' ? '::1' : address.address}]` : (address.address === '0.0.0.0' ? '127.0.0.1' : address.address)
  return `http://${host}:${address.port}`
}

declare module 'fastify' {
  interface FastifyInstance {
    config: AppConfig
    /** Demo mode without SMTP_URL: the loopback SMTP server whose mail /dev/mail shows. */
    mailCatcher: MailCatcher | null
    /** Demo mode: what the console says once the app listens (what is stood in, how to pay, how to go live). */
    demoConsole: string[] | null
  }
  interface FastifyContextConfig {
    /** How long the body may take to arrive (default 30 s). */
    bodyDeadlineMs?: number
  }
}
