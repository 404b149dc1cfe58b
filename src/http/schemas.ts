/** Route schemas shared by several route files. */

export const slugParams = {
  type: 'object',
  properties: { slug: { type: 'string', maxLength: 200 } },
  required: ['slug']
} as const

export interface SlugParams {
  slug: string
}
