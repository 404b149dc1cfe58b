// The sign-in as a browser goes through it: /login, the provider, /login/callback.
import type { Answer, Send } from './cookie-jar.js'

export interface Identity {
  email: string
  name?: string
  verified?: boolean
  sub?: string
}

const statusOf = (response: Answer): number => response instanceof Response ? response.status : response.statusCode
const locationOf = (response: Answer): string | undefined => {
  const location = response instanceof Response ? response.headers.get('location') : response.headers.location
  return typeof location === 'string' ? location : undefined
}

export interface SignInFlow<A extends Answer> {
  /** /login's answer: a redirect to the provider. */
  start: A
  /** Where the provider sent the browser back: the app's /login/callback with its code and state. */
  callback: URL
  /** The callback's answer: a 302 to `next` when the sign-in worked. */
  done: A
}

/**
 * Follows /login's redirect to the provider and returns the callback URL the provider answers with.
 * The dev provider signs in whoever the login_* parameters name; with `identity` null the URL is
 * left as it is (a fake GitHub or Google signs in its own account).
 */
export async function providerCallback (start: Answer, identity: Identity | null): Promise<URL> {
  const location = locationOf(start)
  if (statusOf(start) !== 302 || location === undefined) throw new Error(`/login answered ${statusOf(start)}`)
  const authorize = new URL(location)
  if (identity !== null) {
    authorize.searchParams.set('login_email', identity.email)
    authorize.searchParams.set('login_name', identity.name ?? identity.email.split('@')[0]!)
    authorize.searchParams.set('login_verified', identity.verified === false ? 'false' : 'true')
    if (identity.sub !== undefined) authorize.searchParams.set('login_sub', identity.sub)
  }
  const provider = await fetch(authorize, { redirect: 'manual' })
  await provider.arrayBuffer()
  const back = provider.headers.get('location')
  if (back === null) throw new Error(`the provider answered ${provider.status} without a redirect`)
  return new URL(back)
}

/**
 * Signs in as a browser does: /login?next=…, the provider, then /login/callback, all sent through
 * `send` (inject or real HTTP). Whether the callback signed anyone in is for the caller to judge.
 */
export async function signInFlow<A extends Answer> (send: Send<A>, identity: Identity | null, next = '/'): Promise<SignInFlow<A>> {
  let start = await send(`/login?next=${encodeURIComponent(next)}`)
  // With email sign-in on (SMTP configured), /login is a page: its provider link goes on.
  if (statusOf(start) === 200) {
    // A sender that read the body already (server-process.ts) leaves it unusable: the tests' provider is OIDC.
    const body = start instanceof Response ? (start.bodyUsed ? null : await start.text()) : (start as unknown as { body: string }).body
    const href = body === null ? `/login/oidc?next=${encodeURIComponent(next)}` : /href="(\/login\/(?:oidc|github|google)[^"]*)"/.exec(body)?.[1]
    if (href === undefined) throw new Error('/login is a page without a provider link')
    start = await send(href.replaceAll('&amp;', '&'))
  }
  const callback = await providerCallback(start, identity)
  const done = await send(callback.pathname + callback.search)
  return { start, callback, done }
}
