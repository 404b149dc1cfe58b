// Downloads: the owner's 50 MB PDF through the app (from the folder, from S3, behind nginx with
// DOWNLOAD_OFFLOAD=x-accel, with DOWNLOAD_OFFLOAD=redirect) against nginx and @fastify/static
// serving the same bytes; then the app's memory while 32 clients download a 500 MB PDF.
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { AFTER, type Backend, backends, BIG, builds, configOf, type PageTarget, recordGoal, rows, RUNS, runDir, SECONDS, startInstance, staticDir, YARDSTICK } from '../context.js'
import type { Build } from '../builds.js'
import { download, fmt, log, median, rssMb, type Started, stopProcess } from '../lib.js'
import { nginxInstalled, startNginx } from '../nginx.js'

type DownloadTarget = PageTarget & { follow?: boolean }

/** A target as the log and the table name it. */
const key = (t: PageTarget): string => `${t.backend === undefined ? YARDSTICK : t.label.startsWith('s3rver alone') ? t.backend.label : configOf(t.backend, t.build!)}: ${t.label}`

/** `base`: the yardstick server (bench/baseline-server.ts), `basePid` its process. */
export async function downloads (base: string, basePid: number): Promise<void> {
  const sqlite = backends.find((b) => b.name === 'sqlite')
  const postgres = backends.find((b) => b.name === 'postgres')
  const offload: Array<Started & { url: string }> = []
  try {
    const targets = await downloadTargets(base, sqlite, postgres, offload)
    await throughputRuns(targets)
  } finally {
    for (const started of offload) await stopProcess(started.child)
  }
  await rssGrowth(base, basePid)
}

/**
 * The offloading instances start now, beside each configuration's app, and stop afterwards:
 * SQLite + folder behind nginx with DOWNLOAD_OFFLOAD=x-accel, PostgreSQL + S3 with
 * DOWNLOAD_OFFLOAD=redirect (two instances on one database and bucket, as in production).
 * One of each per build; nginx in front of each x-accel instance (the first one's static
 * files are the ceiling). What was started is pushed to `offload`, for the caller to stop.
 */
async function downloadTargets (base: string, sqlite: Backend | undefined, postgres: Backend | undefined, offload: Array<Started & { url: string }>): Promise<DownloadTarget[]> {
  const downloadTargets: DownloadTarget[] = []
  const nginxUrls = new Map<Build, string>()
  if (nginxInstalled()) {
    for (const build of builds) {
      let appPort: number | undefined
      if (sqlite !== undefined) {
        const xAccel = await startInstance(sqlite, 'app (x-accel)', { DOWNLOAD_OFFLOAD: 'x-accel' }, build)
        offload.push(xAccel)
        appPort = xAccel.port
      }
      const nginx = await startNginx(join(runDir, `nginx-${build.name}`), staticDir, sqlite?.contentDir, appPort)
      offload.push(nginx)
      nginxUrls.set(build, nginx.url)
    }
    downloadTargets.push({ label: 'nginx static file (ceiling)', url: `${nginxUrls.get(AFTER)!}/files/big.pdf` })
  } else {
    log('nginx is not installed (apt-get install nginx-light): the ceiling and x-accel are left out; @fastify/static is the baseline')
  }
  downloadTargets.push({ label: '@fastify/static', url: `${base}/files/big.pdf` })
  for (const build of builds) {
    if (sqlite !== undefined) {
      const app = sqlite.apps.find((a) => a.build === build)!.url
      downloadTargets.push({ label: 'app streams from the folder', url: `${app}/content/${sqlite.big.slug}/download`, headers: sqlite.signedIn, backend: sqlite, build })
      const nginxUrl = nginxUrls.get(build)
      if (nginxUrl !== undefined) downloadTargets.push({ label: 'nginx in front, DOWNLOAD_OFFLOAD=x-accel', url: `${nginxUrl}/content/${sqlite.big.slug}/download`, headers: sqlite.signedIn, backend: sqlite, build })
    }
    if (postgres !== undefined && postgres.files.kind === 's3') {
      const app = postgres.apps.find((a) => a.build === build)!.url
      downloadTargets.push({ label: 'app streams from S3 (s3rver)', url: `${app}/content/${postgres.big.slug}/download`, headers: postgres.signedIn, backend: postgres, build })
      // No goal of its own: this tree only.
      if (build === AFTER) {
        const redirect = await startInstance(postgres, 'app (redirect)', { DOWNLOAD_OFFLOAD: 'redirect' }, build)
        offload.push(redirect)
        downloadTargets.push({ label: 'DOWNLOAD_OFFLOAD=redirect: 302, then the presigned GET from s3rver', url: `${redirect.url}/content/${postgres.big.slug}/download`, headers: postgres.signedIn, backend: postgres, build, follow: true })
      }
    }
  }
  if (postgres !== undefined && postgres.files.kind === 's3') {
    downloadTargets.push({ label: 's3rver alone (a presigned GET, no app)', url: await postgres.files.presign(postgres.big.file_key, { fileName: 'bench.pdf', contentType: 'application/pdf', seconds: 3600 }), backend: postgres, build: AFTER })
  }
  return downloadTargets
}

/** Each target answers the whole file once, then 4 clients download it for SECONDS, RUNS times in turn. */
async function throughputRuns (downloadTargets: DownloadTarget[]): Promise<void> {
  // Each target answers the whole file before it is timed.
  for (const target of downloadTargets) await checkDownload(key(target), target.url, target.headers ?? {}, target.follow === true)
  const throughput = new Map<string, number[]>(downloadTargets.map((t) => [key(t), []]))
  for (let run = 1; run <= RUNS; run++) {
    for (const target of downloadTargets) {
      const result = await download(target.url, target.headers ?? {}, 4, SECONDS, { follow: target.follow })
      if ([...result.statuses].some((status) => status !== 200)) throw new Error(`${key(target)}: answered ${[...result.statuses].join(', ')}`)
      throughput.get(key(target))!.push(result.mbPerSecond)
      log(`run ${run} ${key(target)} (50 MB): ${fmt(result.mbPerSecond)} MB/s${target.follow === true ? ` (${result.redirects} redirects)` : ''}`)
    }
  }
  const ceiling = downloadTargets[0]!
  const ceilingMbs = median(throughput.get(key(ceiling))!)
  const staticMbs = median(throughput.get(key(downloadTargets.find((t) => t.label === '@fastify/static')!))!)
  for (const target of downloadTargets) {
    const mbs = median(throughput.get(key(target))!)
    const goal = target.label === 'nginx in front, DOWNLOAD_OFFLOAD=x-accel' ? '≥ 0.90' : ''
    rows.push({
      config: target.backend === undefined ? YARDSTICK : key(target).slice(0, key(target).indexOf(': ')),
      scenario: `download of a 50 MB PDF, 4 clients: ${target.label}${target.label.startsWith('app streams') && ceiling.label !== '@fastify/static' ? ` (${(mbs / staticMbs).toFixed(2)} of @fastify/static, goal ≥ 0.90)` : ''}`,
      metric: 'MB/s',
      app: target === ceiling ? '-' : fmt(mbs),
      baseline: fmt(ceilingMbs),
      ratio: (mbs / ceilingMbs).toFixed(2),
      goal,
      runs: throughput.get(key(target))!.map((v) => fmt(v)).join(' / ')
    })
    if (target.label.startsWith('app streams')) recordGoal(4, `download vs @fastify/static (${target.backend!.label}: ${target.label.replace('app streams ', 'the app streams ')})`, '≥ 0.9', target.build!, (mbs / staticMbs).toFixed(2), mbs / staticMbs >= 0.9)
    if (target.label === 'nginx in front, DOWNLOAD_OFFLOAD=x-accel' && ceiling.label !== '@fastify/static') recordGoal(6, 'download with DOWNLOAD_OFFLOAD=x-accel through nginx vs nginx serving the file directly', '≥ 0.9', target.build!, (mbs / ceilingMbs).toFixed(2), mbs / ceilingMbs >= 0.9)
  }
}

/** 32 clients each downloading a 500 MB file: the server's memory must not grow with the file. */
async function rssGrowth (base: string, basePid: number): Promise<void> {
  const rssTargets: Array<PageTarget & { pid: number }> = [{ label: '@fastify/static', url: `${base}/files/huge.pdf`, pid: basePid }]
  for (const backend of backends) {
    for (const instance of backend.apps) rssTargets.push({ label: 'app', url: `${instance.url}/content/${backend.huge.slug}/download`, headers: backend.signedIn, pid: instance.pid, backend, build: instance.build })
  }
  const growth = new Map<string, number[]>(rssTargets.map((t) => [key(t), []]))
  for (let run = 1; run <= RUNS; run++) {
    for (const target of rssTargets) {
      await sleep(300)
      const idle = rssMb(target.pid)
      let peak = idle
      const sampler = setInterval(() => { peak = Math.max(peak, rssMb(target.pid)) }, 20)
      const result = await download(target.url, target.headers ?? {}, 32, SECONDS)
      clearInterval(sampler)
      if ([...result.statuses].some((status) => status !== 200)) throw new Error(`${key(target)}: answered ${[...result.statuses].join(', ')}`)
      growth.get(key(target))!.push(peak - idle)
      log(`run ${run} ${key(target)} 32 x 500 MB: idle ${fmt(idle)} MB, peak ${fmt(peak)} MB, ${fmt(result.mbPerSecond)} MB/s`)
    }
  }
  const staticGrowth = growth.get(key(rssTargets[0]!))!
  for (const target of rssTargets.slice(1)) {
    const appGrowth = growth.get(key(target))!
    rows.push({ config: configOf(target.backend!, target.build!), scenario: `RSS growth over idle while 32 clients download a 500 MB file (${SECONDS} s); app VmHWM ${fmt(rssMb(target.pid, 'VmHWM'))} MB; baseline: @fastify/static's growth`, metric: 'MB', app: fmt(median(appGrowth), 1), baseline: fmt(median(staticGrowth), 1), ratio: '', goal: '< 64 MB', runs: `${appGrowth.map((v) => fmt(v, 1)).join(' / ')} vs ${staticGrowth.map((v) => fmt(v, 1)).join(' / ')}` })
    recordGoal(5, `download: RSS growth, 32 clients x 500 MB (${target.backend!.label})`, '< 64 MB', target.build!, `${fmt(median(appGrowth), 1)} MB`, median(appGrowth) < 64)
  }
}

/** One GET of a download target (following one 302 when told): it must answer 200 with the 50 MB. */
async function checkDownload (name: string, url: string, headers: Record<string, string>, follow: boolean): Promise<void> {
  let response = await fetch(url, { headers, redirect: 'manual' })
  if (follow) {
    const location = response.headers.get('location')
    await response.arrayBuffer()
    if (response.status !== 302 || location === null) throw new Error(`${name}: answered ${response.status}, not a redirect`)
    response = await fetch(new URL(location, url))
  }
  const bytes = (await response.arrayBuffer()).byteLength
  if (response.status !== 200 || bytes !== BIG) throw new Error(`${name}: answered ${response.status} with ${bytes} bytes`)
}
