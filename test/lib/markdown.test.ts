import t, { type Test } from 'tap'
import { renderMarkdown } from '../../src/lib/markdown.js'
import { ADMIN_EMAIL, build } from '../helpers/build.js'

// Whatever an admin pastes, the HTML that comes out has no element or attribute that runs code.
function inert (t: Test, html: string, name: string): void {
  t.notMatch(html, /<script/i, `${name}: no script element`)
  t.notMatch(html, /<(?!\/?(p|a|em|strong|code|pre|br|ul|ol|li|h[1-6]|blockquote|img|hr|table|thead|tbody|tr|th|td|del|s)\b)[a-z]/i, `${name}: only Markdown's own elements`)
  // Text shows `onerror=` escaped; what matters is the attributes of the elements themselves.
  // (Quoted values are emptied first: a title may say `onmouseover=` as escaped text.)
  const tags = (html.match(/<[a-z][^>]*>/gi) ?? []).map((tag) => tag.replace(/"[^"]*"/g, '""'))
  t.notOk(tags.some((tag) => /\son[a-z]+\s*=/i.test(tag) || /\sstyle\s*=/i.test(tag)), `${name}: no event handler or style attribute`)
  t.notMatch(html, /href="\s*(javascript|vbscript|file|data):/i, `${name}: no dangerous link`)
  t.notMatch(html, /src="\s*(javascript|vbscript|file):/i, `${name}: no dangerous image source`)
}

t.test('hostile Markdown is rendered inert', async (t) => {
  const cases: Array<[string, string]> = [
    ['a script element', '<script>alert(1)</script>'],
    ['an image with onerror', '<img src=x onerror=alert(1)>'],
    ['a javascript: link', '[x](javascript:alert(1))'],
    ['a JavaScript: link in capitals', '[x](JaVaScRiPt:alert(1))'],
    ['an entity-encoded javascript: link', '[x](&#106;avascript:alert(1))'],
    ['a vbscript: link', '[x](vbscript:msgbox(1))'],
    ['a file: link', '[x](file:///etc/passwd)'],
    ['a data: HTML link', '[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)'],
    ['an autolink to javascript:', '<javascript:alert(1)>'],
    ['an image with a javascript: source', '![x](javascript:alert(1))'],
    ['a raw HTML block', '<div onclick="alert(1)">\n\n*hi*\n\n</div>\n\n<iframe src="https://evil.example"></iframe>'],
    ['an inline HTML anchor', 'see <a href="javascript:alert(1)">this</a>'],
    ['a style element', '<style>body{display:none}</style>'],
    ['a link title that breaks out', '[x](https://example.com "a\\" onmouseover=\\"alert(1)")'],
    ['a very long line', 'w'.repeat(100_000) + ' [x](javascript:alert(1)) ' + '<b>'.repeat(10_000)]
  ]
  for (const [name, source] of cases) inert(t, renderMarkdown(source), name)
  t.match(renderMarkdown('<script>alert(1)</script>'), '&lt;script&gt;alert(1)&lt;/script&gt;', 'raw HTML is shown as text')
})

t.test('Markdown is rendered: emphasis, lists, safe links with rel, line breaks kept', async (t) => {
  t.equal(renderMarkdown('**bold** and *it*'), '<p><strong>bold</strong> and <em>it</em></p>\n')
  t.match(renderMarkdown('- one\n- two'), '<ul>\n<li>one</li>\n<li>two</li>\n</ul>')
  t.equal(renderMarkdown('[docs](https://example.com/docs)'), '<p><a href="https://example.com/docs" rel="nofollow noopener">docs</a></p>\n')
  t.equal(renderMarkdown('see https://example.com'), '<p>see <a href="https://example.com" rel="nofollow noopener">https://example.com</a></p>\n', 'bare URLs become links')
  t.equal(renderMarkdown('line one\nline two'), '<p>line one<br>\nline two</p>\n', 'a typed line break stays')
  t.match(renderMarkdown('![cover](data:image/png;base64,iVBORw0KGgo=)'), '<img src="data:image/png;base64,iVBORw0KGgo=" alt="cover">', 'data: images of image types are kept')
})

t.test('the content page renders its description from Markdown, inert', async (t) => {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  const description = '## What is inside\n\n- **40** maps\n- [sample](https://example.com/sample)\n\n<img src=x onerror=alert(1)>\n\n[x](javascript:alert(1))'
  const uploaded = await h.upload(admin, { title: 'Atlas of Tests', description })
  t.equal(uploaded.statusCode, 303)
  const page = await h.request(null, { url: '/content/atlas-of-tests' })
  const html = page.body.slice(page.body.indexOf('class="description'), page.body.indexOf('</article>'))
  t.match(html, '<h2>What is inside</h2>')
  t.match(html, '<li><strong>40</strong> maps</li>')
  t.match(html, '<a href="https://example.com/sample" rel="nofollow noopener">sample</a>')
  t.match(html, '&lt;img src=x onerror=alert(1)&gt;')
  inert(t, html.slice(html.indexOf('>') + 1), 'the description')
  // The Content-Security-Policy is the one the site always sent.
  t.match(String(page.headers['content-security-policy']), /script-src 'self'/)
})

t.test('rendered Markdown is kept for repeated views, bounded, and stays right after the oldest are dropped', async (t) => {
  const first = renderMarkdown('**first** item')
  t.equal(renderMarkdown('**first** item'), first, 'the same text gives the same HTML')
  const wrong = Array.from({ length: 600 }, (_, i) => i).filter((i) => renderMarkdown(`item *${i}*`) !== `<p>item <em>${i}</em></p>\n`)
  t.same(wrong, [], '600 different texts, more than are kept, each rendered right')
  t.equal(renderMarkdown('**first** item'), '<p><strong>first</strong> item</p>\n', 'rendered again after being dropped')
})
