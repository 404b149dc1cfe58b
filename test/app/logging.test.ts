import { spawnSync } from 'node:child_process'
import t from 'tap'
import { loggerOptions, prettyLogs } from '../../src/logging.js'

t.test('the log is pretty only on a terminal outside production', async (t) => {
  t.equal(prettyLogs({ isTTY: true }, false), true, 'a terminal in development: pretty')
  t.equal(prettyLogs({ isTTY: true }, true), false, 'production: JSON lines, even on a terminal')
  t.equal(prettyLogs({ isTTY: false }, false), false, 'a pipe or a file: JSON lines')
  t.equal(prettyLogs({}, false), false, 'a stream that is no terminal at all: JSON lines')
})

t.test('the JSON path is unchanged: no transport, the same serializers and formatter', async (t) => {
  const json = loggerOptions('info')
  t.same(Object.keys(json).sort(), ['formatters', 'level', 'serializers'])
  t.notOk('transport' in json)
  const pretty = loggerOptions('info', { pretty: true })
  t.same(Object.keys(pretty.serializers ?? {}), Object.keys(json.serializers ?? {}), 'the pretty path keeps the serializers')
  t.match(pretty, { transport: { target: 'pino-pretty' } })
})

// pino runs the serializers and the formatter before a line goes to the transport's thread: what
// the terminal shows holds no more than the JSON line would.
const script = `
import pino from 'pino'
import { loggerOptions } from './src/logging.ts'
const pretty = process.argv.includes('pretty')
const log = pino(loggerOptions('info', { pretty }))
const err = Object.assign(new Error('upstream failed'), { config: { headers: { Authorization: 'Bearer sk_live_leak' } } })
log.info({ headers: { cookie: 'session=cookie-leak' }, err }, 'hello from the log')
log.flush?.()
`

function run (mode: string): string {
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, mode], { encoding: 'utf8', timeout: 30_000 })
  if (result.status !== 0) throw new Error(result.stderr)
  return result.stdout
}

t.test('pretty lines are readable text and keep the redaction', async (t) => {
  const out = run('pretty')
  t.match(out, /INFO.*hello from the log/)
  t.throws(() => JSON.parse(out.trim().split('\n')[0]!), 'not a JSON line')
  t.notMatch(out, /cookie-leak|sk_live_leak/, 'no secret reaches the terminal')
  t.match(out, /\[redacted\]/)
})

t.test('JSON lines stay JSON lines with the redaction', async (t) => {
  const out = run('json')
  const line = JSON.parse(out.trim()) as Record<string, unknown>
  t.equal(line.msg, 'hello from the log')
  t.notMatch(out, /cookie-leak|sk_live_leak/)
})
