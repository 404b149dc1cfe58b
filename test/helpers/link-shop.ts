import type { LightMyRequestResponse } from 'fastify'
import type { CookieJar, TestContext } from './build.js'
import { pdfBytes } from './fixtures.js'
import { buy, type Shop, shop } from './purchase.js'

/** A shop whose $5.00 item has a known PDF of some size, bought by the reader; the order's link. */
export interface LinkShop extends Shop {
  pdf: Buffer
  orderId: string
  token: string
}

export async function linkShop (t: TestContext, env: Record<string, string> = {}): Promise<LinkShop> {
  const pdf = pdfBytes('A book sold by link', 200_000)
  const s = await shop(t, env, { title: 'Linked Book', file: pdf })
  const { order } = await buy(s)
  return { ...s, pdf, orderId: order.id, token: s.h.app.links.create(order.id).token }
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
