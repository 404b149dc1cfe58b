// A browser's cookies between requests, for inject answers and fetch Responses alike.
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'

/** An answer as a browser sees it: from inject, or from fetch over real HTTP. */
export type Answer = LightMyRequestResponse | Response

/** The Set-Cookie lines of an answer, one a cookie. */
export function setCookies (response: Answer): string[] {
  if (response instanceof Response) return response.headers.getSetCookie()
  const raw = response.headers['set-cookie']
  return raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]
}

/** Cookies as a browser would keep them between requests. */
export class CookieJar {
  readonly cookies = new Map<string, string>()

  /** From an inject answer or a fetch Response: raw values, as a browser keeps them. */
  update (response: Answer): this {
    for (const line of setCookies(response)) {
      const [pair = '', ...attributes] = line.split(';')
      const name = pair.slice(0, pair.indexOf('='))
      const value = pair.slice(pair.indexOf('=') + 1)
      const expired = value === '' || attributes.some((a) => /^\s*max-age=0\s*$/i.test(a))
      if (expired) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
    return this
  }

  get header (): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }
}

/** One GET as a browser sends it: with the browser's cookies, keeping those it is sent, not following redirects. */
export type Send<A extends Answer> = (path: string) => Promise<A>

/** A browser on an app built in the test: each GET goes through inject with the jar's cookies. */
export function injectAs (app: FastifyInstance, jar: CookieJar): Send<LightMyRequestResponse> {
  return async (url) => {
    const response = await app.inject({ url, headers: jar.cookies.size > 0 ? { cookie: jar.header } : {} })
    jar.update(response)
    return response
  }
}
