import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { publicDir } from '../../src/paths.js'

// A rule block left open (a merge that lost a `}`) makes the browser swallow every rule after
// it: pages look unstyled while every other test passes. Braces must balance outside comments
// and strings, and never go below zero.
t.test('the stylesheet\'s blocks are balanced, so no rule is swallowed by an open one', async (t) => {
  const css = readFileSync(join(publicDir, 'css', 'site.css'), 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
  t.notMatch(css, /\/\*/, 'no comment left open')
  let depth = 0
  let line = 1
  for (const char of css) {
    if (char === '\n') line++
    if (char === '{') depth++
    if (char === '}') depth--
    if (depth < 0) break
  }
  t.equal(depth, 0, `every block is closed (depth ${depth} at line ${line})`)
})
