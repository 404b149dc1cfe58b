// Forms as a browser sends them: the CSRF token of a page, multipart bodies, the admin upload form.
import { pdfBytes, pngBytes } from './fixtures.js'

/** The CSRF token of a page's forms; `where` names the page in the error when it has none. */
export function csrfFrom (html: string, where: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html)
  if (match === null) throw new Error(`no CSRF token on ${where}`)
  return match[1]!
}

export interface UploadFields {
  title?: string
  description?: string
  price?: string
  file?: Buffer | null
  fileName?: string
  preview?: Buffer | null
  previewName?: string
  /** The form's token; Harness.upload reads the jar's when it is left out, null sends none. */
  csrf?: string | null
  /** Put the files before the text fields (a client that does not follow the form's order). */
  filesFirst?: boolean
  /** Other text fields (preview_pages, sample_pages). */
  extra?: Record<string, string>
}

/** Builds a multipart/form-data body the way a browser would. */
export async function multipartBody (parts: Array<[string, string | { data: Buffer, filename: string, type: string }]>): Promise<{ body: Buffer, contentType: string }> {
  const form = new FormData()
  for (const [name, value] of parts) {
    if (typeof value === 'string') form.append(name, value)
    else form.append(name, new Blob([value.data], { type: value.type }), value.filename)
  }
  const response = new Response(form)
  return { body: Buffer.from(await response.arrayBuffer()), contentType: response.headers.get('content-type')! }
}

/**
 * The admin upload form as a browser sends it: the token (none when null or left out), the text
 * fields, the PDF and the cover; defaults give a valid upload.
 */
export async function uploadForm (fields: UploadFields = {}): Promise<{ body: Buffer, contentType: string }> {
  const text: Array<[string, string]> = [
    ['title', fields.title ?? 'A Field Guide to Testing'],
    ['description', fields.description ?? 'Everything about tests.'],
    ['price', fields.price ?? '5.00'],
    ...Object.entries(fields.extra ?? {})
  ]
  const files: Array<[string, { data: Buffer, filename: string, type: string }]> = []
  const file = fields.file === undefined ? pdfBytes() : fields.file
  if (file !== null) files.push(['file', { data: file, filename: fields.fileName ?? 'guide.pdf', type: 'application/pdf' }])
  const preview = fields.preview === undefined ? pngBytes() : fields.preview
  if (preview !== null) files.push(['preview', { data: preview, filename: fields.previewName ?? 'cover.png', type: 'image/png' }])
  const token = fields.csrf ?? null
  return await multipartBody([
    ...(token === null ? [] : [['_csrf', token] as [string, string]]),
    ...(fields.filesFirst === true ? [...files, ...text] : [...text, ...files])
  ])
}
