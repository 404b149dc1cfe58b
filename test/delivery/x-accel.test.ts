import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ADMIN_EMAIL, build } from '../helpers/build.js'
import { pdfBytes } from '../helpers/fixtures.js'
import { item } from '../helpers/items.js'
import { freePort, sleep } from '../helpers/net.js'

const NGINX = '/usr/sbin/nginx'
// CI installs nginx (.ci/run): there a missing one is a failure, not a skip.
const ci = !['', 'false', '0'].includes(process.env.CI ?? '')

/**
 * The README's configuration, with paths under a temporary folder so it runs as any user:
 * everything to the app, and an `internal` location that only an X-Accel-Redirect reaches.
 */
function nginxConfig (dir: string, port: number, appPort: number, contentDir: string): string {
  return `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  types { application/pdf pdf; image/png png; image/jpeg jpg; image/webp webp; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://127.0.0.1:${appPort};
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
    location /protected/ {
      internal;
      alias ${contentDir}/;
    }
  }
}
`
}

t.test('DOWNLOAD_OFFLOAD=x-accel: nginx sends the file the app authorised and counted; the app sends none of its bytes', { skip: !existsSync(NGINX) && !ci ? `${NGINX} is not installed` : false }, async (t) => {
  const h = await build(t, { DOWNLOAD_OFFLOAD: 'x-accel' })
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  const stranger = await h.signIn({ email: 'stranger@example.com' })
  const pdf = pdfBytes('Served by nginx', 3 * 1024 * 1024 + 17)
  t.equal((await h.upload(admin, { title: 'Offloaded', price: '5.00', file: pdf })).statusCode, 303)
  const row = await item(h, 'offloaded')

  // The app answers with the header and no body.
  const direct = await h.request(admin, { url: '/content/offloaded/download' })
  t.equal(direct.statusCode, 200)
  t.equal(direct.headers['x-accel-redirect'], `/protected/${row.file_key}`)
  t.equal(direct.headers['content-disposition'], 'attachment; filename="offloaded.pdf"')
  t.equal(direct.headers['content-type'], 'application/pdf')
  t.equal(direct.rawPayload.length, 0)

  // A real listening app, and every byte it writes to nginx counted.
  const sockets: Socket[] = []
  h.app.server.on('connection', (socket: Socket) => { sockets.push(socket) })
  await h.app.listen({ port: 0, host: '127.0.0.1' })
  const appPort = (h.app.server.address() as { port: number }).port

  const dir = await mkdtemp(join(tmpdir(), 'market-nginx-'))
  const port = await freePort()
  await writeFile(join(dir, 'nginx.conf'), nginxConfig(dir, port, appPort, h.config.contentDir))
  const nginx: ChildProcess = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  nginx.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
  nginx.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
  const exited = new Promise((resolve) => nginx.once('exit', resolve))
  t.teardown(async () => {
    if (nginx.exitCode === null && nginx.signalCode === null) nginx.kill('SIGTERM')
    await exited
    await rm(dir, { recursive: true, force: true })
  })
  const base = `http://127.0.0.1:${port}`
  for (let tries = 0; ; tries++) {
    if (nginx.exitCode !== null) throw new Error(`nginx exited: ${output}${await readFile(join(dir, 'error.log'), 'utf8').catch(() => '')}`)
    if (await fetch(`${base}/healthz`).then((r) => r.ok, () => false)) break
    if (tries > 100) throw new Error(`nginx did not answer: ${output}`)
    await sleep(100)
  }
  const before = sockets.reduce((sum, socket) => sum + socket.bytesWritten, 0)
  const rowsBefore = (await h.app.db.selectFrom('downloads').select('id').execute()).length

  const whole = await fetch(`${base}/content/offloaded/download`, { headers: { cookie: admin.header } })
  t.equal(whole.status, 200)
  t.equal(whole.headers.get('content-type'), 'application/pdf')
  t.equal(whole.headers.get('content-disposition'), 'attachment; filename="offloaded.pdf"')
  t.equal(whole.headers.get('x-accel-redirect'), null, 'nginx does not pass the header on')
  t.ok(Buffer.from(await whole.arrayBuffer()).equals(pdf), 'byte-identical, through nginx')

  const range = await fetch(`${base}/content/offloaded/download`, { headers: { cookie: admin.header, range: 'bytes=1000-1999' } })
  t.equal(range.status, 206, 'nginx answers the Range itself')
  t.equal(range.headers.get('content-range'), `bytes 1000-1999/${pdf.length}`)
  t.ok(Buffer.from(await range.arrayBuffer()).equals(pdf.subarray(1000, 2000)))

  const refused = await fetch(`${base}/content/offloaded/download`, { headers: { cookie: stranger.header } })
  t.equal(refused.status, 403, 'a stranger is refused by the app, through nginx')
  t.notOk(Buffer.from(await refused.arrayBuffer()).includes(Buffer.from('%PDF-')))
  const internal = await fetch(`${base}/protected/${row.file_key}`)
  t.equal(internal.status, 404, 'the protected location is not reachable from outside')
  await internal.arrayBuffer()

  const rows = await h.app.db.selectFrom('downloads').select(['requests', 'via']).execute()
  t.equal(rows.length - rowsBefore, 1, 'the download log counted the download (its Range request continues it)')
  const sent = sockets.reduce((sum, socket) => sum + socket.bytesWritten, 0) - before
  t.ok(sent < 20_000, `the app wrote ${sent} bytes to nginx for ${pdf.length * 2} bytes served: none of the file`)
})
