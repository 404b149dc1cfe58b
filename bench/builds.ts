// The builds a run measures: this tree ("after"), and with BENCH_BEFORE=<commit-ish> that
// commit too ("before"), checked out in a temporary `git worktree` (node_modules symlinked from
// this tree) and built there with its own `npm run build`. Both run with the same environment:
// the same contract (DESIGN.md), the same database and store. BENCH_AFTER=<commit-ish> measures
// that commit as "after" instead of this tree (built the same way): two past commits compared,
// seeded and driven by this tree's bench.
import { execFileSync } from 'node:child_process'
import { mkdtemp, realpath, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { log, ROOT } from './lib.js'

export interface Build {
  name: 'before' | 'after'
  /** How the report names it: "after" or "before (55ce67a)". */
  label: string
  /** Its tree: `node dist/src/server.js` and `npm start` run there. */
  dir: string
  commit: string
  /** The migrations it knows (a before build): newer ones are hidden from it while it starts. */
  migrations?: Set<string>
}

const git = (args: string[], cwd = ROOT): string => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim()

export function afterBuild (): Build {
  const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== ''
  return { name: 'after', label: 'after', dir: ROOT, commit: git(['rev-parse', '--short', 'HEAD']) + (dirty ? ' + changes' : '') }
}

/** Checks `ref` out in a temporary worktree and builds it; `remove()` undoes both. */
export async function beforeBuild (ref: string, name: Build['name'] = 'before'): Promise<Build & { remove(): Promise<void> }> {
  const commit = git(['rev-parse', '--short', `${ref}^{commit}`])
  const dir = await mkdtemp(join(tmpdir(), `bench-before-${commit}-`))
  let added = false
  const remove = async (): Promise<void> => {
    if (added) {
      try { git(['worktree', 'remove', '--force', dir]) } catch {}
    }
    await rm(dir, { recursive: true, force: true })
    if (added) {
      try { git(['worktree', 'prune']) } catch {}
    }
  }
  try {
    log(`BENCH_${name.toUpperCase()}=${ref}: checking out ${commit} in ${dir} and building it`)
    git(['worktree', 'add', '--detach', dir, commit])
    added = true
    // (Some old commits carry a node_modules symlink of their own: replaced.)
    await rm(join(dir, 'node_modules'), { recursive: true, force: true })
    await symlink(await realpath(join(ROOT, 'node_modules')), join(dir, 'node_modules'))
    const begin = Date.now()
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] })
    log(`built ${commit} in ${((Date.now() - begin) / 1000).toFixed(1)} s`)
    const { migrations } = await import(pathToFileURL(join(dir, 'dist', 'migrations', 'index.js')).href) as { migrations: Record<string, unknown> }
    return { name, label: `${name} (${commit})`, dir, commit, migrations: new Set(Object.keys(migrations)), remove }
  } catch (error) {
    await remove()
    throw error
  }
}
