import globals from 'globals'
import neostandard from 'neostandard'

// One style for the whole tree (TypeScript included), as the Fastify ecosystem writes it.
export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'test-output/**', 'bench/tmp/**', 'content/**', 'data/**'] }),
  // The small scripts under public/ run in the browser.
  { files: ['public/**/*.js'], languageOptions: { globals: globals.browser } }
]
