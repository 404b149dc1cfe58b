// The yardsticks the app is compared with, in a process of their own like the app:
// a bare Fastify route answering a fixed HTML string, and @fastify/static serving the content
// folder with no checks at all.
import fastifyStatic from '@fastify/static'
import Fastify from 'fastify'

const port = Number(process.env.PORT)
const htmlBytes = Number(process.env.HTML_BYTES)
const contentDir = process.env.CONTENT_DIR
if (!Number.isInteger(port) || !Number.isInteger(htmlBytes) || contentDir === undefined) {
  console.error('baseline-server: PORT, HTML_BYTES and CONTENT_DIR are required')
  process.exit(1)
}

const html = '<!doctype html><html><body>' + 'x'.repeat(Math.max(0, htmlBytes - 28)) + '</body></html>'
const app = Fastify({ logger: false })
await app.register(fastifyStatic, { root: contentDir, prefix: '/files/' })
app.get('/html', async (_request, reply) => reply.type('text/html; charset=utf-8').send(html))

process.on('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
await app.listen({ port, host: '127.0.0.1' })
console.log('baseline ready')
