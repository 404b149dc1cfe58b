import type { LightMyRequestResponse } from 'fastify'
import type { Content } from '../../src/db/types.js'
import { type CookieJar, type Harness, multipartBody } from './build.js'

export interface EditFields {
  title?: string
  description?: string
  price?: string
  changelog?: string
  file?: Buffer
  fileName?: string
  preview?: Buffer
  /** Any other text fields (the contract's payment_link_id, pay_what_you_want, min_price). */
  extra?: Record<string, string>
  /** The form's token; read from the jar's pages when left out, none when null. */
  csrf?: string | null
}

/** POST /admin/content/<slug> as the edit form sends it: token, text fields, then files. */
export async function edit (h: Harness, jar: CookieJar, slug: string, fields: EditFields = {}): Promise<LightMyRequestResponse> {
  const token = fields.csrf === undefined ? await h.csrf(jar) : fields.csrf
  const text: Array<[string, string]> = []
  for (const name of ['title', 'description', 'price', 'changelog'] as const) {
    const value = fields[name]
    if (value !== undefined) text.push([name, value])
  }
  for (const [name, value] of Object.entries(fields.extra ?? {})) text.push([name, value])
  const files: Array<[string, { data: Buffer, filename: string, type: string }]> = []
  if (fields.preview !== undefined) files.push(['preview', { data: fields.preview, filename: 'cover.png', type: 'image/png' }])
  if (fields.file !== undefined) files.push(['file', { data: fields.file, filename: fields.fileName ?? 'new.pdf', type: 'application/pdf' }])
  const { body, contentType } = await multipartBody([...(token === null ? [] : [['_csrf', token] as [string, string]]), ...text, ...files])
  return await h.request(jar, { method: 'POST', url: `/admin/content/${slug}`, headers: { 'content-type': contentType }, payload: body })
}

/** A form POST (publish, unpublish, delete) with the jar's token unless told otherwise. */
export async function post (h: Harness, jar: CookieJar | null, url: string, form: Record<string, string> = {}, csrf?: string | null): Promise<LightMyRequestResponse> {
  const token = csrf === undefined ? (jar === null ? null : await h.csrf(jar)) : csrf
  return await h.request(jar, { method: 'POST', url, form: token === null ? form : { _csrf: token, ...form } })
}

export async function item (h: Harness, slug: string): Promise<Content> {
  return await h.app.db.selectFrom('content').selectAll().where('slug', '=', slug).executeTakeFirstOrThrow()
}

export async function versionRows (h: Harness, contentId: number): Promise<Array<{ version: number, file_key: string, changelog: string }>> {
  return await h.app.db.selectFrom('content_versions').select(['version', 'file_key', 'changelog'])
    .where('content_id', '=', contentId).orderBy('version').execute()
}
