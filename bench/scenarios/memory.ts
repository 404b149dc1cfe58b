// Memory: idle RSS of a fresh instance after start and after two rounds of page views.
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Backend, backends, builds, configOf, ITEMS, MEMORY_VIEWS, NO_GROWTH_MB, recordGoal, rows, startInstance } from '../context.js'
import type { Build } from '../builds.js'
import { cannon, fmt, log, median, ROOT, rssMb, type Started, stopProcess } from '../lib.js'

/**
 * A fresh instance per configuration and build: idle RSS after start, after MEMORY_VIEWS page
 * views (a mix of anonymous and signed-in catalogue pages 1 to 20 and content pages of
 * thousands of different items, 8 connections), and after a second MEMORY_VIEWS. Each reading:
 * 1 s of idle, a full GC (the instance runs with --expose-gc and bench/gc-preload.cjs, which
 * collects on SIGWINCH), 1 s more, then the median of three samples of VmRSS 250 ms apart.
 */
export async function memory (): Promise<void> {
  const idleRss = async (pid: number): Promise<number> => {
    await sleep(1000)
    process.kill(pid, 'SIGWINCH')
    await sleep(1000)
    const samples: number[] = []
    for (let i = 0; i < 3; i++) {
      samples.push(rssMb(pid))
      await sleep(250)
    }
    return median(samples)
  }
  interface Subject { backend: Backend, build: Build, url: string, pid: number, child: Started['child'], rss: number[] }
  const subjects: Subject[] = []
  try {
    for (const backend of backends) {
      for (const build of builds) {
        const started = await startInstance(backend, 'app (memory)', {}, build, ['--expose-gc', '--require', join(ROOT, 'bench', 'gc-preload.cjs')])
        subjects.push({ backend, build, url: started.url, pid: started.child.pid!, child: started.child, rss: [] })
      }
    }
    for (const subject of subjects) subject.rss.push(await idleRss(subject.pid))
    for (let phase = 1; phase <= 2; phase++) {
      for (const subject of subjects) {
        let next = 0
        const result = await cannon({
          url: subject.url,
          connections: 8,
          amount: MEMORY_VIEWS,
          requests: [{
            method: 'GET',
            setupRequest: (request) => {
              const k = next++
              const path = k % 4 < 2 ? `/?page=${1 + ((k >> 2) % 20)}` : `/content/bench-item-${1 + (((k >> 2) * 37 + phase) % (ITEMS - 3))}`
              return { ...request, path, headers: k % 2 === 1 ? subject.backend.signedIn : {} }
            }
          }]
        })
        if (result.non2xx > 0 || result.errors > 0) throw new Error(`memory ${configOf(subject.backend, subject.build)}: ${result.non2xx} non-2xx, ${result.errors} errors`)
        subject.rss.push(await idleRss(subject.pid))
        log(`${configOf(subject.backend, subject.build)} memory: ${fmt(MEMORY_VIEWS * phase)} page views, idle RSS ${fmt(subject.rss.at(-1)!, 1)} MB`)
      }
    }
  } finally {
    for (const subject of subjects) await stopProcess(subject.child)
  }
  for (const { backend, build, rss } of subjects) {
    const [start, first, second] = rss as [number, number, number]
    const growth = second - first
    rows.push({ config: configOf(backend, build), scenario: `idle RSS of a fresh instance after ${fmt(MEMORY_VIEWS)} page views (anonymous and signed in, catalogue and content pages); baseline: idle RSS after start`, metric: 'MB', app: fmt(first, 1), baseline: fmt(start, 1), ratio: '', goal: 'reported', runs: '' })
    rows.push({ config: configOf(backend, build), scenario: `idle RSS after a second ${fmt(MEMORY_VIEWS)} page views; baseline: after the first`, metric: 'MB', app: fmt(second, 1), baseline: fmt(first, 1), ratio: '', goal: `no growth (≤ ${NO_GROWTH_MB} MB)`, runs: `growth ${growth >= 0 ? '+' : ''}${fmt(growth, 1)} MB` })
    recordGoal(12, `memory: idle RSS after ${fmt(MEMORY_VIEWS)} page views (${backend.label})`, 'reported', build, `${fmt(first, 1)} MB`, undefined)
    recordGoal(13, `memory: RSS growth over a second ${fmt(MEMORY_VIEWS)} page views (${backend.label})`, `no growth (≤ ${NO_GROWTH_MB} MB)`, build, growth <= NO_GROWTH_MB ? `no growth (${growth >= 0 ? '+' : ''}${fmt(growth, 1)} MB)` : `+${fmt(growth, 1)} MB`, growth <= NO_GROWTH_MB)
  }
}
