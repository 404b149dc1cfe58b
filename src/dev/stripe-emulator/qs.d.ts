// qs ships no types and @types/qs is not installed; this declares the one call the emulator
// makes (qs 6.17: parse with the options below). Remove it if @types/qs is ever added.
declare module 'qs' {
  interface ParseOptions {
    depth?: number
    arrayLimit?: number
    parameterLimit?: number
    duplicates?: 'combine' | 'first' | 'last'
  }
  type Parsed = string | Parsed[] | { [key: string]: Parsed }
  export function parse (str: string, options?: ParseOptions): { [key: string]: Parsed }
  const qs: { parse: typeof parse }
  export default qs
}
