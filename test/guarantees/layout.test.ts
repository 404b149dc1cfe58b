// The layout's measurable rules (src/README.md, issue 21), kept true by the suite: no import
// cycle under src/ (every import counts, `import type` and a lazy `import()` too, as madge counts
// them), no file under src/ or bench/ over 400 lines, no function there over 100 lines. The
// folders' import directions are the lint rule's (eslint.config.js).
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'
import ts from 'typescript'

const ROOT = join(import.meta.dirname, '..', '..')
const sources = (folder: string): string[] => readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })
  .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts') && !name.startsWith('tmp/'))
  .map((name) => join(ROOT, folder, name))
const named = (file: string): string => relative(ROOT, file)

/** The files under src/ a file imports (relative specifiers only, `.js` written for `.ts`). */
function importsOf (file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|(?:^|\n)\s*import\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)]
    .map((match) => match[1] ?? match[2] ?? match[3]!)
  return specifiers
    .map((specifier) => resolve(dirname(file), specifier.replace(/\.js$/, '.ts')))
    .filter((target) => existsSync(target) && target.startsWith(join(ROOT, 'src')))
}

/** Every cycle found by a depth-first walk, each once, as the files in import order. */
function cycles (files: string[]): string[][] {
  const graph = new Map(files.map((file) => [file, importsOf(file)]))
  const found = new Map<string, string[]>()
  const done = new Set<string>()
  const walk = (file: string, path: string[]): void => {
    const at = path.indexOf(file)
    if (at !== -1) {
      const cycle = path.slice(at)
      found.set([...cycle].sort().join(' '), cycle)
      return
    }
    if (done.has(file)) return
    for (const next of graph.get(file) ?? []) walk(next, [...path, file])
    done.add(file)
  }
  for (const file of files) walk(file, [])
  return [...found.values()]
}

/** Functions (declarations, methods, arrows, expressions) of a file longer than `max` lines. */
function longFunctions (file: string, max: number): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true)
  const long: string[] = []
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isArrowFunction(node) || ts.isFunctionExpression(node)) {
      const first = source.getLineAndCharacterOfPosition(node.getStart()).line
      const lines = source.getLineAndCharacterOfPosition(node.getEnd()).line - first + 1
      if (lines > max) long.push(`${named(file)}:${first + 1} (${lines} lines)`)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return long
}

t.test('no import cycle under src/', async (t) => {
  const found = cycles(sources('src')).map((cycle) => cycle.map(named).join(' -> '))
  t.same(found, [], found.join('\n'))
})

t.test('no file under src/ or bench/ is over 400 lines', async (t) => {
  const long = [...sources('src'), ...sources('bench')]
    .map((file) => ({ file, lines: readFileSync(file, 'utf8').split('\n').length }))
    .filter(({ lines }) => lines > 400)
    .map(({ file, lines }) => `${named(file)} (${lines} lines)`)
  t.same(long, [], long.join('\n'))
})

t.test('no function under src/ or bench/ is over 100 lines', async (t) => {
  const long = [...sources('src'), ...sources('bench')].flatMap((file) => longFunctions(file, 100))
  t.same(long, [], long.join('\n'))
})
