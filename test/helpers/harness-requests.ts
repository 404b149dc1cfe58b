// What a Harness sends through inject: requests with a browser's cookies, the sign-in, the CSRF
// token, the admin upload, and signed deliveries from the Stripe stand-in (the emulator's secret).
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { StripeEmulator } from '../../src/dev/stripe-emulator/index.js'
import { CookieJar, type Send } from './cookie-jar.js'
import { csrfFrom, uploadForm, type UploadFields } from './forms.js'
import { type Identity, signInFlow } from './sign-in.js'

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'HEAD'
  url: string
  headers?: Record<string, string>
  payload?: string | Buffer
  form?: Record<string, string>
}

export interface WebhookOptions { timestamp?: number, secret?: string, signature?: string | null }

export type Webhook = (event: object, options?: WebhookOptions) => Promise<LightMyRequestResponse>

export type Request = (jar: CookieJar | null, options: RequestOptions) => Promise<LightMyRequestResponse>

/** GET/POST through inject with the jar's cookies (a `form` is sent urlencoded), updating them from the answer. */
export function injectRequest (app: FastifyInstance): Request {
  return async (jar, options) => {
    const headers: Record<string, string> = { ...options.headers }
    if (jar !== null && jar.cookies.size > 0) headers.cookie = jar.header
    let payload = options.payload
    if (options.form !== undefined) {
      payload = new URLSearchParams(options.form).toString()
      headers['content-type'] = 'application/x-www-form-urlencoded'
    }
    const response = await app.inject({ method: options.method ?? 'GET', url: options.url, headers, payload })
    jar?.update(response)
    return response
  }
}

/** The browser actions of a signed-in (or not) visitor, all through `request`. */
export function browserActions (request: Request): {
  send: (jar: CookieJar) => Send<LightMyRequestResponse>
  signIn: (identity: Identity, next?: string) => Promise<CookieJar>
  csrf: (jar: CookieJar) => Promise<string>
  upload: (jar: CookieJar, fields?: UploadFields) => Promise<LightMyRequestResponse>
} {
  const send = (jar: CookieJar): Send<LightMyRequestResponse> => async (url) => await request(jar, { url })

  async function signIn (identity: Identity, next = '/'): Promise<CookieJar> {
    const jar = new CookieJar()
    const { done } = await signInFlow(send(jar), identity, next)
    if (done.statusCode !== 302) throw new Error(`/login/callback answered ${done.statusCode}: ${done.body.slice(0, 300)}`)
    return jar
  }

  async function csrf (jar: CookieJar): Promise<string> {
    // Every page of a signed-in user carries the sign-out form and its token.
    const page = await request(jar, { url: '/library' })
    return csrfFrom(page.body, `/library (status ${page.statusCode})`)
  }

  async function upload (jar: CookieJar, fields: UploadFields = {}): Promise<LightMyRequestResponse> {
    const { body, contentType } = await uploadForm({ ...fields, csrf: fields.csrf === undefined ? await csrf(jar) : fields.csrf })
    return await request(jar, { method: 'POST', url: '/admin/content', headers: { 'content-type': contentType }, payload: body })
  }

  return { send, signIn, csrf, upload }
}

/** A webhook delivery through inject, signed by the Stripe emulator (or with the signature given, none when null). */
export function stripeWebhook (app: FastifyInstance, stripe: StripeEmulator): Webhook {
  return async function webhook (event: object, options: WebhookOptions = {}): Promise<LightMyRequestResponse> {
    const payload = JSON.stringify(event)
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    const signature = options.signature === undefined ? stripe.sign(payload, options.timestamp, options.secret) : options.signature
    if (signature !== null) headers['stripe-signature'] = signature
    return await app.inject({ method: 'POST', url: '/webhooks/stripe', headers, payload })
  }
}
