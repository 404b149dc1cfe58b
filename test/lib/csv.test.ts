import t from 'tap'
import { csvCell, csvLine } from '../../src/lib/csv.js'

t.test('plain values are written as they are; null and undefined are empty', async (t) => {
  t.equal(csvCell('abc'), 'abc')
  t.equal(csvCell(42), '42')
  t.equal(csvCell('7.50'), '7.50')
  t.equal(csvCell(null), '')
  t.equal(csvCell(undefined), '')
  t.equal(csvCell(''), '')
})

t.test('RFC 4180: commas, double quotes, CR and LF are quoted, quotes doubled', async (t) => {
  t.equal(csvCell('a,b'), '"a,b"')
  t.equal(csvCell('say "hi"'), '"say ""hi"""')
  t.equal(csvCell('two\nlines'), '"two\nlines"')
  t.equal(csvCell('two\r\nlines'), '"two\r\nlines"')
  t.equal(csvCell('"'), '""""')
})

t.test('formula injection: a value starting with = + - @ tab or CR gets a leading quote mark', async (t) => {
  t.equal(csvCell('=HYPERLINK("http://evil.example","click")'), '"\'=HYPERLINK(""http://evil.example"",""click"")"')
  t.equal(csvCell('+1'), "'+1")
  t.equal(csvCell('-2+3'), "'-2+3")
  t.equal(csvCell('@SUM(A1)'), "'@SUM(A1)")
  t.equal(csvCell('\t=1'), "'\t=1")
  t.equal(csvCell('\r=1'), '"\'\r=1"')
  t.equal(csvCell('a=b'), 'a=b', 'only a leading character counts')
  t.equal(csvCell('user@example.com'), 'user@example.com')
})

t.test('a record is its escaped fields joined by commas and ended by CRLF', async (t) => {
  t.equal(csvLine(['a', 'b,c', null, 5]), 'a,"b,c",,5\r\n')
})
