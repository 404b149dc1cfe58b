// Whether a file's last cross-reference section can be trusted, so an incremental update may
// point back to it (/Prev). A table whose offsets are wrong (a "repaired by the reader" file)
// makes readers rebuild the whole index: such a file gets a full rewrite instead.
const tail = (bytes: Uint8Array, n: number): string => Buffer.from(bytes.buffer, bytes.byteOffset + Math.max(0, bytes.length - n), Math.min(n, bytes.length)).toString('latin1')
const at = (bytes: Uint8Array, offset: number, n: number): string => Buffer.from(bytes.buffer, bytes.byteOffset + offset, Math.max(0, Math.min(n, bytes.length - offset))).toString('latin1')

export function xrefIsSound (bytes: Uint8Array): boolean {
  const end = tail(bytes, 2048)
  const match = /startxref\s+(\d+)\s+%%EOF\s*$/.exec(end)
  if (match === null) return false
  const offset = Number(match[1])
  if (!(offset > 0 && offset < bytes.length)) return false
  const head = at(bytes, offset, 64)
  // A cross-reference stream: its object must start where startxref says.
  if (/^\d+\s+\d+\s+obj\b/.test(head)) return at(bytes, offset, 4096).includes('/XRef')
  if (!head.startsWith('xref')) return false
  return tableIsSound(bytes, offset)
}

function tableIsSound (bytes: Uint8Array, offset: number): boolean {
  let position = offset + 4
  let checked = 0
  for (;;) {
    const header = /^\s*(\d+)\s+(\d+)[ \t]*\r?\n?/.exec(at(bytes, position, 40))
    if (header === null) return at(bytes, position, 40).trimStart().startsWith('trailer') && checked > 0
    position += header[0].length
    const first = Number(header[1])
    const count = Number(header[2])
    if (count > 10_000_000) return false
    const rows = at(bytes, position, count * 20)
    for (let i = 0; i < count; i++) {
      const row = rows.slice(i * 20, i * 20 + 20)
      const entry = /^(\d{10}) (\d{5}) ([nf])/.exec(row)
      if (entry === null) return false
      if (entry[3] === 'n') {
        const objectAt = Number(entry[1])
        const expected = new RegExp(`^${first + i}\\s+${Number(entry[2])}\\s+obj\\b`)
        if (!expected.test(at(bytes, objectAt, 32))) return false
        checked++
      }
    }
    position += count * 20
  }
}
