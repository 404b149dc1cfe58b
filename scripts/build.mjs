// `npm start`'s prestart (and migrate, flush, backup): compiles the TypeScript into dist/ only when
// something it is compiled from has changed since the last build, so a start with nothing changed
// costs a few milliseconds instead of a full `tsc` run. `node scripts/build.mjs --force` always builds.
//
// What counts: every file under the folders tsconfig.build.json includes, the tsconfig files and
// the lockfile (a new TypeScript may emit differently); a file's path, size and mtime, so an edit,
// a checkout, an added or a deleted file all make the build stale. tsc writes over dist/ in place
// (an instance already running from it keeps working), then the output of a source that no longer
// exists is removed: a deleted migration must not run from an old build.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')
const stampFile = join(dist, '.build-inputs')
const config = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8'))

function * files (dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield * files(path)
    else yield path
  }
}

function fingerprint () {
  const inputs = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'].map((name) => join(root, name))
  for (const folder of config.include) inputs.push(...files(join(root, folder)))
  const hash = createHash('sha256')
  for (const path of inputs.sort()) {
    const { size, mtimeMs } = statSync(path)
    hash.update(`${relative(root, path)}\0${size}\0${mtimeMs}\n`)
  }
  return hash.digest('hex')
}

function built () {
  try { return readFileSync(stampFile, 'utf8') } catch { return undefined }
}

// Taken before compiling: a file saved while tsc runs makes the next start build again.
const inputs = fingerprint()
const previous = built()
if (process.argv.includes('--force') || previous !== inputs) {
  // tsc takes a while on a small machine: say so, or the first start looks hung. On stderr, so
  // a script's output (npm run doctor, migrate) stays its own.
  console.error(previous === undefined
    ? 'building the app into dist/ (first start only, about 20 seconds) ...'
    : 'building the app into dist/ (the sources changed since the last build) ...')
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  const { status } = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
  if (status !== 0) process.exit(status ?? 1)
  for (const output of files(dist)) {
    const source = relative(dist, output).replace(/\.js(\.map)?$/, '.ts')
    if (source.endsWith('.ts') && !existsSync(join(root, source))) rmSync(output)
  }
  writeFileSync(stampFile, inputs)
}
