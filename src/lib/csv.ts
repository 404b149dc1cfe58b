/**
 * CSV as RFC 4180 writes it: fields separated by commas, records ended by CRLF, and a field that
 * holds a comma, a double quote, CR or LF wrapped in double quotes with its quotes doubled.
 *
 * Formula injection: a spreadsheet opening the file runs a cell that begins with `=`, `+`, `-`
 * or `@` as a formula (and a leading tab or CR can hide such a character from a naive check), so
 * a buyer's e-mail or an item title like `=HYPERLINK(...)` could run in the creator's
 * spreadsheet. Such a value gets a leading `'` (OWASP's advice), which spreadsheets show as text;
 * the value is then quoted as any other.
 */
const FORMULA_START = /^[=+\-@\t\r]/
const NEEDS_QUOTES = /[",\r\n]/

export type CsvValue = string | number | null | undefined

/** One field, escaped against formulas and quoted as RFC 4180 needs. */
export function csvCell (value: CsvValue): string {
  if (value === null || value === undefined) return ''
  let text = String(value)
  if (FORMULA_START.test(text)) text = `'${text}`
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

/** One record, CRLF-terminated. */
export function csvLine (values: readonly CsvValue[]): string {
  return values.map(csvCell).join(',') + '\r\n'
}
