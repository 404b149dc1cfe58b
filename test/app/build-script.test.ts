import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import t from 'tap'

// scripts/build.mjs in a copy of a tiny project: its own tsconfigs, one source file, and this
// project's node_modules (for tsc).
function project (): string {
  const root = mkdtempSync(join(tmpdir(), 'market-build-'))
  mkdirSync(join(root, 'scripts'))
  mkdirSync(join(root, 'src'))
  copyFileSync(resolve('scripts/build.mjs'), join(root, 'scripts/build.mjs'))
  symlinkSync(resolve('node_modules'), join(root, 'node_modules'))
  writeFileSync(join(root, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'es2022', module: 'nodenext', outDir: 'dist', rootDir: '.', skipLibCheck: true } }))
  writeFileSync(join(root, 'tsconfig.build.json'), JSON.stringify({ extends: './tsconfig.json', include: ['src'] }))
  writeFileSync(join(root, 'package-lock.json'), '{}')
  writeFileSync(join(root, 'src/a.ts'), 'export const a: number = 1\n')
  return root
}

function build (root: string): { status: number | null, stderr: string } {
  const result = spawnSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, encoding: 'utf8', timeout: 120_000 })
  return { status: result.status, stderr: result.stderr }
}

t.test('the build says what it is doing before a first build, and nothing when there is nothing to build', async (t) => {
  const root = project()
  const first = build(root)
  t.equal(first.status, 0)
  t.match(first.stderr, /^building the app into dist\/ \(first start only, about 20 seconds\) \.\.\.\n/)
  const again = build(root)
  t.equal(again.status, 0)
  t.equal(again.stderr, '', 'built already: silent')
  const later = new Date(Date.now() + 5000)
  utimesSync(join(root, 'src/a.ts'), later, later)
  const changed = build(root)
  t.equal(changed.status, 0)
  t.match(changed.stderr, /^building the app into dist\/ \(the sources changed since the last build\) \.\.\.\n/)
})
