import type { LightMyRequestResponse } from 'fastify'
import { ADMIN_EMAIL, build, type CookieJar, type TestContext } from './build.js'
import { pdfBytes } from './fixtures.js'
import { buy, type Shop, userId } from './purchase.js'

/** A shop whose $5.00 item has a known PDF of some size, bought by the reader; the order's link. */
export interface LinkShop extends Shop {
  pdf: Buffer
  orderId: string
  token: string
}

export async function linkShop (t: TestContext, env: Record<string, string> = {}): Promise<LinkShop> {
  const h = await build(t, env)
  const admin = await h.signIn({ email: ADMIN_EMAIL, sub: 'admin' })
  const pdf = pdfBytes('A book sold by link', 200_000)
  const uploaded = await h.upload(admin, { title: 'Linked Book', price: '5.00', file: pdf })
  if (uploaded.statusCode !== 303) throw new Error(`upload answered ${uploaded.statusCode}`)
  const slug = (uploaded.headers.location as string).replace('/content/', '')
  const reader = await h.signIn({ email: 'reader@example.com', sub: 'reader' })
  const s: Shop = { h, admin, reader, readerId: await userId(h, 'reader@example.com'), slug }
  const { order } = await buy(s)
  return { ...s, pdf, orderId: order.id, token: h.app.links.create(order.id).token }
}

/** A GET (or HEAD) of a download link by a client that has no cookies: address and user agent as given. */
export async function fetchLink (s: LinkShop, options: { token?: string, range?: string, method?: 'GET' | 'HEAD', address?: string, agent?: string, headers?: Record<string, string> } = {}): Promise<LightMyRequestResponse> {
  return await s.h.app.inject({
    method: options.method ?? 'GET',
    url: `/d/${options.token ?? s.token}`,
    remoteAddress: options.address ?? '203.0.113.7',
    headers: {
      'user-agent': options.agent ?? 'TestReader/1.0',
      ...(options.range === undefined ? {} : { range: options.range }),
      ...options.headers
    }
  })
}

export async function post (s: Shop, jar: CookieJar, url: string, form: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return await s.h.request(jar, { method: 'POST', url, form: { _csrf: await s.h.csrf(jar), ...form } })
}

export async function downloadRows (s: Shop): Promise<Array<{ order_id: string | null, via: string, bytes: number, requests: number, client_address: string | null, user_agent: string | null, email: string | null, version: number }>> {
  return await s.h.app.db.selectFrom('downloads').select(['order_id', 'via', 'bytes', 'requests', 'client_address', 'user_agent', 'email', 'version']).orderBy('id').execute()
}
