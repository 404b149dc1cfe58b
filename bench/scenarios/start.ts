// `npm start` to /healthz answering, against `node dist/src/server.js` started directly.
import { appEnv, type Backend, builds, configOf, hideNewerMigrations, recordGoal, rows, RUNS } from '../context.js'
import type { Build } from '../builds.js'
import { fmt, freePort, log, median, timeToListen } from '../lib.js'

/**
 * `npm start` to /healthz answering, with the production environment of the bench, nothing
 * changed since the last build (one untimed start first: it builds if anything is stale); the
 * baseline is `node dist/src/server.js` started directly. Builds alternate, run by run.
 */
export async function startTime (backend: Backend): Promise<void> {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const timed = async (build: Build, how: 'npm' | 'node'): Promise<number> => {
    const port = await freePort()
    const unhide = await hideNewerMigrations(backend.handle, build)
    try {
      const [command, args] = how === 'npm' ? [npm, ['start', '--silent']] : [process.execPath, ['dist/src/server.js']]
      return await timeToListen(`${how} start (${build.label})`, command, args, build.dir, appEnv(backend, port), `http://127.0.0.1:${port}/healthz`)
    } finally {
      await unhide()
    }
  }
  const figures = new Map<Build, { npm: number[], node: number[] }>(builds.map((b) => [b, { npm: [], node: [] }]))
  for (const build of builds) log(`warm start of ${build.label} (npm start, untimed): ${fmt(await timed(build, 'npm'))} ms`)
  for (let run = 1; run <= RUNS; run++) {
    for (const build of builds) {
      const f = figures.get(build)!
      f.npm.push(await timed(build, 'npm'))
      f.node.push(await timed(build, 'node'))
      log(`run ${run} ${build.label}: npm start ${fmt(f.npm.at(-1)!)} ms, node dist/src/server.js ${fmt(f.node.at(-1)!)} ms`)
    }
  }
  for (const build of builds) {
    const f = figures.get(build)!
    const seconds = median(f.npm) / 1000
    rows.push({ config: configOf(backend, build), scenario: '`npm start` to /healthz answering, nothing changed since the last build; baseline: `node dist/src/server.js` directly', metric: 'ms', app: fmt(median(f.npm)), baseline: fmt(median(f.node)), ratio: (median(f.npm) / median(f.node)).toFixed(2), goal: '≤ 1,500 ms', runs: `${f.npm.map((v) => fmt(v)).join(' / ')} vs ${f.node.map((v) => fmt(v)).join(' / ')}` })
    recordGoal(11, `\`npm start\` to listening, nothing changed since the last build (${backend.label}; in brackets \`node dist/src/server.js\` alone)`, '≤ 1.5 s', build, `${fmt(seconds, 2)} s (${fmt(median(f.node) / 1000, 2)} s)`, seconds <= 1.5)
  }
}
