// The README and docs/ stay usable: every relative link and image resolves to a file (and a
// heading, for a #fragment), the README stays short, and every shell command shown is either one
// the suite or CI runs, or is marked as an example.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'

const root = resolve(import.meta.dirname, '../..')
const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)]

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug (heading: string): string {
  return heading.trim().toLowerCase().replace(/[`*_]/g, '').replace(/[^\p{L}\p{N} -]/gu, '').replace(/ /g, '-')
}

function withoutCode (text: string): string {
  return text.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '')
}

function anchors (file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '')
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((match) => slug(match[1]!)))
}

function links (text: string): string[] {
  const plain = withoutCode(text)
  return [
    ...[...plain.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]!),
    ...[...plain.matchAll(/<img [^>]*src="([^"]+)"/g)].map((match) => match[1]!)
  ].filter((target) => !/^[a-z]+:/i.test(target))
}

t.test('every relative link and image in the README and docs/ points at a file and heading that exist', async (t) => {
  const broken: string[] = []
  for (const page of pages) {
    const file = join(root, page)
    for (const target of links(readFileSync(file, 'utf8'))) {
      const [path = '', fragment] = target.split('#')
      const destination = path === '' ? file : resolve(dirname(file), path)
      if (!existsSync(destination)) {
        broken.push(`${page}: ${target} (no ${relative(root, destination)})`)
      } else if (fragment !== undefined && destination.endsWith('.md') && !anchors(destination).has(fragment)) {
        broken.push(`${page}: ${target} (no heading #${fragment})`)
      }
    }
  }
  t.same(broken, [], 'no broken link')
})

t.test('the README is at most 250 lines', async (t) => {
  const lines = readFileSync(join(root, 'README.md'), 'utf8').split('\n').length - 1
  t.ok(lines <= 250, `README.md has ${lines} lines`)
})

// Commands the suite or CI runs as written (.ci/run, test/ and the doctor's own tests).
const RUN_BY_TESTS = [/^npm install && npm start\b/, /^npm ci\b/, /^npm test\b/, /^npm run doctor( -- --create-webhook)?$/]

t.test('every shell command in the README and docs/ is run by the tests or CI, or is marked as an example', async (t) => {
  const unmarked: string[] = []
  for (const page of pages) {
    const text = readFileSync(join(root, page), 'utf8')
    for (const block of text.matchAll(/^ *```(?:sh|bash|shell)\n([\s\S]*?)^ *```/gm)) {
      const lines = block[1]!.split('\n').map((line) => line.trim()).filter((line) => line !== '')
      if (lines.some((line) => line === '# example' || line.startsWith('# example'))) continue
      for (const line of lines) {
        if (line.startsWith('#') || line.includes('# example')) continue
        const command = line.replace(/\s+#.*$/, '')
        if (!RUN_BY_TESTS.some((pattern) => pattern.test(command))) unmarked.push(`${page}: ${line}`)
      }
    }
  }
  t.same(unmarked, [], 'no unmarked command')
})
