import { readdirSync } from 'node:fs'
import globals from 'globals'
import neostandard from 'neostandard'

// The layout's import rules (DESIGN.md "Layout", src/README.md), checked on the import paths as
// written (they are relative): each folder's files may import only what sits below them.
//   lib/      nothing of the app (one exception: the row types of db/types.ts, types only)
//   db/       lib and config; no storage, http or module
//   storage/  db, lib and config; no http or module
//   http/     db, storage, lib; no module
//   modules/  the layers; of another module only its plugin.ts (its decorator and types)
// None of them imports the composition (app.ts, site.ts, machine.ts, server.ts).
const COMPOSITION = { regex: '^(\\.\\./)+(app|site|machine|server)\\.js$', message: 'the composition (app, site, machine, server) imports the folders, never the other way round.' }
const below = (folder, ...names) => ({
  regex: `^(\\.\\./)+(${names.join('|')})(/|$)`,
  message: `${folder} sits below ${names.join(', ')} and must not import from there (src/README.md).`
})
const layerRule = (...patterns) => ['error', { patterns: [...patterns, COMPOSITION] }]

// One block per module and depth (src/modules/<m>/*.ts, <m>/*/*.ts, ...): at depth d, '../'
// d+1 times reaches src/modules/, d+2 times src/. Another module is reached only at its plugin.js.
const MODULES = readdirSync(new URL('src/modules/', import.meta.url), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)
const moduleBlocks = MODULES.flatMap((name) => [0, 1, 2, 3].map((depth) => {
  const toModules = `(\\.\\./){${depth + 1}}`
  const toSrc = `(\\.\\./){${depth + 2}}modules/`
  const other = `(?!${name}/)[^./][^/]*/(?!plugin\\.js$)`
  const message = `modules/${name} may use another module only through its plugin.ts (its decorator and types): move what is shared to lib/, db/ or http/, or export it from that module's plugin.ts.`
  return {
    files: [`src/modules/${name}/${'*/'.repeat(depth)}*.ts`],
    rules: { 'no-restricted-imports': layerRule({ regex: `^${toModules}${other}`, message }, { regex: `^${toSrc}${other}`, message }) }
  }
}))

// One style for the whole tree (TypeScript included), as the Fastify ecosystem writes it.
export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'test-output/**', 'bench/tmp/**', 'content/**', 'data/**'] }),
  // The small scripts under public/ run in the browser.
  { files: ['public/**/*.js'], languageOptions: { globals: globals.browser } },
  {
    files: ['src/lib/**/*.ts'],
    rules: { 'no-restricted-imports': layerRule({ regex: '^\\.\\./(?!db/types\\.js$)', message: 'lib/ imports nothing of the app (only the row types of db/types.ts): it is plain functions on plain values.' }) }
  },
  { files: ['src/db/**/*.ts'], rules: { 'no-restricted-imports': layerRule(below('db/', 'modules', 'http', 'storage')) } },
  { files: ['src/storage/**/*.ts'], rules: { 'no-restricted-imports': layerRule(below('storage/', 'modules', 'http')) } },
  { files: ['src/http/**/*.ts'], rules: { 'no-restricted-imports': layerRule(below('http/', 'modules')) } },
  ...moduleBlocks
]
