// npm run doctor: reads the configuration as npm start does (the environment, and .env), checks
// every value and every configured service (database, storage, SMTP, the payment provider's key
// and Stripe's webhook endpoint, the identity provider), says whether /metrics is on, and prints every problem at once, one
// line each naming its variable: exit 1 when there is any, else a short summary and exit 0. It
// changes nothing; `--create-webhook` creates a missing Stripe webhook endpoint and prints its
// signing secret.
import { isDemo, readConfig } from '../src/config.js'
import { lookalikeWarnings } from '../src/config/names.js'
import { loadEnvFile } from '../src/env.js'
import { checkMollie, checkStripe } from './doctor/payments.js'
import { Report } from './doctor/report.js'
import { checkDatabase, checkSignIn, checkSmtp, checkStorage } from './doctor/services.js'

const STORAGE_VARIABLES = ['STORAGE_URL', 'CONTENT_DIR', 'S3_ENDPOINT', 'S3_REGION', 'S3_FORCE_PATH_STYLE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']

const args = process.argv.slice(2)
const unknownArgs = args.filter((arg) => arg !== '--create-webhook')
if (unknownArgs.length > 0) {
  console.error(`npm run doctor: unknown option ${unknownArgs.join(' ')} (the one option is --create-webhook)`)
  process.exit(2)
}

const fromFile = loadEnvFile()
const report = new Report()
for (const warning of lookalikeWarnings(process.env, fromFile)) report.warn(warning)
const { config, problems } = readConfig(process.env, { demoSecret: false })
report.problems.push(...problems.map((problem) => problem.message))
const refused = new Set(problems.map((problem) => problem.variable))

if (isDemo(config)) report.ok('demo mode: what is not configured of sign-in and payments is a local stand-in (NODE_ENV=production checks a live setup)')
else report.ok(`configuration: ${config.production ? 'production' : 'development'}, ${config.publicUrl}, ${config.currency.toUpperCase()}`)

const database = refused.has('DATABASE_URL') ? undefined : await checkDatabase(config, report)
if (!refused.has('DATABASE_URL') && !STORAGE_VARIABLES.some((name) => refused.has(name))) await checkStorage(config, database, report)
await checkSmtp(config, report)
if (config.paymentProvider === 'stripe' && config.stripe !== null) {
  await checkStripe(config, config.stripe, { createWebhook: args.includes('--create-webhook'), webhook: !refused.has('PUBLIC_URL') }, report)
}
if (config.paymentProvider === 'mollie') await checkMollie(config, report)
await checkSignIn(config, report)
if (!refused.has('METRICS_TOKEN')) {
  report.ok(config.metricsToken === null
    ? 'metrics: off (set METRICS_TOKEN to serve GET /metrics to Prometheus, see docs/metrics.md)'
    : 'metrics: on, GET /metrics answers Prometheus with METRICS_TOKEN as its bearer token')
}

const { lines, code } = report.render()
for (const line of lines) console.log(line)
process.exit(code)
