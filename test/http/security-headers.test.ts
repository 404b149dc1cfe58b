import t from 'tap'
import { build } from '../helpers/build.js'

// The site's security headers are computed once at start (src/http/plugins/helmet.ts): every
// kind of answer must carry exactly what helmet used to set on each request.

const common = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0'
}

const csp = (formAction: string, production: boolean): string =>
  `default-src 'self';base-uri 'self';form-action 'self' ${formAction};frame-ancestors 'none';img-src 'self' data:;object-src 'none';script-src 'self';style-src 'self'${production ? ';upgrade-insecure-requests' : ''}`

for (const production of [false, true]) {
  t.test(`${production ? 'production' : 'development'}: the same security headers on pages, kept pages, 304s, errors, 404s and redirects`, async (t) => {
    const h = await build(t, production ? { NODE_ENV: 'production', PUBLIC_URL: 'https://shop.example.com' } : {})
    const expected: Record<string, string> = {
      'content-security-policy': csp(`${h.stripe.url} ${h.idp.url}`, production),
      ...common,
      ...(production ? { 'strict-transport-security': 'max-age=31536000; includeSubDomains' } : {})
    }
    const security = (headers: Record<string, unknown>): Record<string, unknown> =>
      Object.fromEntries(Object.entries(headers).filter(([name]) => name in expected || name === 'strict-transport-security' || name === 'x-powered-by'))
    const page = await h.app.inject({ url: '/' })
    const answers = {
      page,
      'kept page': await h.app.inject({ url: '/' }),
      304: await h.app.inject({ url: '/', headers: { 'if-none-match': page.headers.etag as string } }),
      'error page': await h.app.inject({ url: '/?page=0' }),
      404: await h.app.inject({ url: '/nowhere' }),
      'missing item': await h.app.inject({ url: '/content/nothing-here' }),
      redirect: await h.app.inject({ url: '/library' }),
      policies: await h.app.inject({ url: '/policies' })
    }
    t.equal(answers[304].statusCode, 304)
    for (const [what, answer] of Object.entries(answers)) {
      t.same(security(answer.headers), expected, `${what} (${answer.statusCode})`)
    }
    // In helmet's order, first: a route's own headers come after.
    t.same(Object.keys(page.headers).slice(0, Object.keys(expected).length).sort(), Object.keys(expected).sort())
  })
}
