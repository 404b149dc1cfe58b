import type { Multipart, MultipartFile } from '@fastify/multipart'
import type { FastifyRequest } from 'fastify'
import { HttpError } from './errors.js'

/** A multipart form read up to its first file: the fields before it, that file, and the rest. */
export interface UploadStream {
  /** Each field once (the last value when repeated). */
  fields: Record<string, string>
  /** Every field before the first file, in order, repeated ones each time (check boxes). */
  fieldList: Array<{ name: string, value: string }>
  firstFile: MultipartFile | undefined
  rest: AsyncIterableIterator<Multipart>
}

declare module 'fastify' {
  interface FastifyRequest {
    upload?: UploadStream
  }
}

/**
 * Reads a multipart form's fields up to its first file and leaves the file unread, so the CSRF
 * check (a preHandler) runs on the `_csrf` field before any byte of a file is stored.
 */
export async function readLeadingFields (request: FastifyRequest): Promise<void> {
  await readLeading(request, undefined)
}

/**
 * readLeadingFields for a form with more fields than the app's default limits (a bundle's check
 * boxes): at most `fields` text fields and one file.
 */
export function readLeadingFieldsUpTo (fields: number): (request: FastifyRequest) => Promise<void> {
  return async (request) => { await readLeading(request, { fields, parts: fields + 1, files: 1 }) }
}

async function readLeading (request: FastifyRequest, limits: { fields: number, parts: number, files: number } | undefined): Promise<void> {
  if (!request.isMultipart()) throw new HttpError(415, 'The upload form must be sent as multipart/form-data.')
  const rest = limits === undefined ? request.parts() : request.parts({ limits })
  const fields: Record<string, string> = {}
  const fieldList: UploadStream['fieldList'] = []
  let firstFile: MultipartFile | undefined
  for (;;) {
    const { value: part, done } = await rest.next()
    if (done === true) break
    if (part.type === 'file') { firstFile = part; break }
    fields[part.fieldname] = String(part.value)
    fieldList.push({ name: part.fieldname, value: String(part.value) })
  }
  request.body = fields
  request.upload = { fields, fieldList, firstFile, rest }
}

/** Every part of the form from its first file on, for the service that stores them. */
export async function * allParts (upload: UploadStream): AsyncGenerator<Multipart> {
  if (upload.firstFile !== undefined) yield upload.firstFile
  for await (const part of upload.rest) yield part
}
