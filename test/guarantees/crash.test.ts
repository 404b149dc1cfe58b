// backends: sqlite, postgres-s3
import { createHash, randomUUID } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { ageStored, openTestDatabase, readStored, storedAt, storeNames, writeStored } from '../helpers/backend.js'
import { ADMIN_EMAIL, build, testEnv, uploadForm } from '../helpers/build.js'
import { pdfBytes, pngBytes } from '../helpers/fixtures.js'
import { sleep } from '../helpers/net.js'
import { csrfToken, deployment, type Deployment } from '../helpers/server-process.js'

/**
 * The store after a restart: every row's files are there with the recorded size and hash, no
 * file is without its row (but a crash's leftovers made after `since`), no temporary file is left.
 */
async function checkStore (t: Test, d: Deployment, since: number): Promise<{ rows: number, files: number }> {
  const database = await openTestDatabase(d.databasePath)
  const storage = loadConfig(d.env).storage
  try {
    // The PDF jobs (page images of the uploads) run on after the restart: their files are
    // looked at once they are done, each with its row.
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline && (await database.db.selectFrom('pdf_jobs').select('id').where('status', '=', 'pending').limit(1).execute()).length > 0) await sleep(100)
    const rows = await database.db.selectFrom('content').selectAll().execute()
    const made = await database.db.selectFrom('pdf_assets').select('key').execute()
    const problems: string[] = []
    for (const row of rows) {
      const pdf = await readStored(storage, row.file_key)
      if (pdf === null) problems.push(`${row.slug}: its PDF is missing`)
      else if (pdf.length !== row.file_size) problems.push(`${row.slug}: ${pdf.length} bytes, recorded ${row.file_size}`)
      else if (createHash('sha256').update(pdf).digest('hex') !== row.sha256) problems.push(`${row.slug}: sha256 differs`)
      if (await storedAt(storage, row.preview_key) === 0) problems.push(`${row.slug}: its preview is missing`)
    }
    const referenced = new Set([...rows.flatMap((row) => [row.file_key, row.preview_key]), ...made.map((row) => row.key)])
    const names = (await storeNames(storage)).filter((name) => !['.gitkeep', '.store-id', '.quarantine'].includes(name) && !name.startsWith('.quarantine/'))
    const unaccounted = names.filter((name) => !referenced.has(name))
    // An upload renamed into place just before the kill has no row. A start moves such a file to
    // quarantine only once it is a minute old (it could be another instance's upload about to
    // commit), so one made by this test's crashes, seconds ago, may still be in place.
    for (const name of unaccounted) {
      const modified = await storedAt(storage, name)
      if (name.startsWith('.') || modified < since) problems.push(`${name}: stored without a row`)
    }
    if (unaccounted.length > 0) t.comment(`uploads cut off between rename and row, left for a later start's quarantine: ${unaccounted.join(', ')}`)
    t.same(problems, [], `${rows.length} items: every row has its files with the recorded size and sha256; no file without a row but a crash's fresh leftovers`)
    return { rows: rows.length, files: names.length }
  } finally {
    await database.close()
  }
}

t.test('SIGKILL during 20 uploads and during a webhook storm: after restart nothing answered is lost and redeliveries apply exactly once', async (t) => {
  const started = Date.now()
  const d = await deployment(t)
  let server = await d.start()
  let crashes = 0

  // (a) 20 concurrent uploads over real HTTP from a signed-in admin; the server is killed when
  // some have been answered and the rest are still streaming.
  const admin = await d.signIn({ email: ADMIN_EMAIL })
  const token = await csrfToken(d.url, admin, '/admin/content/new')
  const answered = new Map<number, number>()
  const uploads = Array.from({ length: 20 }, async (_, i) => {
    const form = await uploadForm({
      csrf: token,
      title: `Crash upload ${i}`,
      description: 'Sent while the server dies.',
      price: `${i + 1}.00`,
      file: pdfBytes(`upload ${i}`, (i + 1) * 128 * 1024),
      fileName: `u${i}.pdf`,
      previewName: 'p.png'
    })
    try {
      const response = await d.upload(admin, form, 5)
      await response.arrayBuffer()
      answered.set(i, response.status)
    } catch {
      // No answer: the connection died with the server.
    }
  })
  const crashDeadline = Date.now() + 20_000
  while ([...answered.values()].filter((s) => s === 303).length < 4 && Date.now() < crashDeadline) await sleep(5)
  const killed = await server.kill('SIGKILL')
  crashes++
  await Promise.all(uploads)
  t.equal(killed.signal, 'SIGKILL', 'the server was killed')
  const stored = [...answered].filter(([, status]) => status === 303).map(([i]) => i)
  t.ok(stored.length >= 4 && stored.length < 20, `${stored.length} uploads were answered 303 before the crash, ${20 - answered.size} got no answer`)
  t.same([...answered.values()].filter((s) => s !== 303), [], 'every upload that was answered was stored')

  const leftBehind = await storeNames(loadConfig(d.env).storage)
  t.comment(`left on disk by the crash: ${leftBehind.filter((n) => n.startsWith('.tmp-')).length} temporary files, ${leftBehind.filter((n) => !n.startsWith('.')).length} stored files`)
  server = await d.start()
  const afterUploads = await checkStore(t, d, started)
  t.comment(`after restart: ${afterUploads.rows} items (${stored.length} answered before the crash), ${afterUploads.files} files`)
  const catalogue = await (await fetch(`${d.url}/`)).text()
  for (const i of stored) t.match(catalogue, `Crash upload ${i}<`, `answered upload ${i} is in the catalogue`)
  const afterCrash = await openTestDatabase(d.databasePath)
  const hashes = new Map((await afterCrash.db.selectFrom('content').select(['slug', 'sha256']).execute()).map((row) => [row.slug, row.sha256]))
  await afterCrash.close()
  for (const i of stored) {
    t.equal(hashes.get(`crash-upload-${i}`), createHash('sha256').update(pdfBytes(`upload ${i}`, (i + 1) * 128 * 1024)).digest('hex'), `answered upload ${i} is stored byte-identical`)
  }
  t.ok(afterUploads.rows >= stored.length, 'no answered upload lost')

  // (b) A webhook storm on paid orders for the stored items, killed half-way.
  const database = await openTestDatabase(d.databasePath)
  const items = await database.db.selectFrom('content').selectAll().execute()
  const BUYERS = 250
  await database.db.insertInto('users').values(Array.from({ length: BUYERS }, (_, i) => ({
    provider: 'seed', subject: `storm-${i}`, email: `storm-${i}@example.com`, email_verified: 1, name: null, is_admin: 0
  }))).execute()
  const buyers = await database.db.selectFrom('users').select('id').where('provider', '=', 'seed').execute()
  const orders = buyers.flatMap((buyer) => items.slice(0, 4).map((item) => ({
    id: randomUUID(), user_id: buyer.id, content_id: item.id, amount_cents: item.price_cents, currency: item.currency, provider_checkout_id: `cs_crash_${randomUUID()}`
  })))
  for (let i = 0; i < orders.length; i += 200) await database.db.insertInto('orders').values(orders.slice(i, i + 200)).execute()
  await database.close()

  // Each order: one completed event sent twice (a redelivery) and once more under a new id.
  const payloads = orders.flatMap((order, index) => {
    const session = {
      id: order.provider_checkout_id,
      object: 'checkout.session',
      client_reference_id: order.id,
      metadata: { order_id: order.id },
      amount_total: order.amount_cents,
      currency: order.currency,
      payment_status: 'paid',
      payment_intent: `pi_crash_${index}`
    }
    const first = JSON.stringify(d.stripe.buildEvent('checkout.session.completed', session))
    return [first, first, JSON.stringify(d.stripe.buildEvent('checkout.session.completed', session))]
  })
  const results: Array<{ status: number, body: string }> = new Array(payloads.length)
  let nextPayload = 0
  let done = 0
  const storm = Array.from({ length: 50 }, async () => {
    while (nextPayload < payloads.length) {
      const index = nextPayload++
      results[index] = await d.webhook(payloads[index]!)
      done++
      if (results[index].status === 0) return // the server is gone: Stripe will retry later
    }
  })
  const stormDeadline = Date.now() + 30_000
  while (done < payloads.length * 0.4 && Date.now() < stormDeadline) await sleep(2)
  await server.kill('SIGKILL')
  crashes++
  await Promise.all(storm)
  const okBefore = results.flatMap((result, index) => result?.status === 200 ? [index] : [])
  const statuses = new Set(results.filter((r) => r !== undefined).map((r) => r.status))
  t.ok([...statuses].every((s) => s === 200 || s === 0), `before the crash every answer was 200 (${[...statuses].join(', ')})`)
  t.ok(okBefore.length > 0 && okBefore.length < payloads.length, `${okBefore.length} of ${payloads.length} events were answered 200 before the crash`)

  server = await d.start()
  const check = await openTestDatabase(d.databasePath)
  const orderOf = (index: number): string => orders[Math.floor(index / 3)]!.id
  const paidAfterCrash = new Set((await check.db.selectFrom('orders').select('id').where('status', '=', 'paid').execute()).map((o) => o.id))
  t.ok(okBefore.every((index) => paidAfterCrash.has(orderOf(index))), 'every event answered 200 before the crash is applied')

  // Stripe delivers again whatever got no 2xx.
  const unanswered = payloads.flatMap((payload, index) => results[index]?.status === 200 ? [] : [payload])
  let redelivered = 0
  const redeliveryStatuses = new Set<number>()
  await Promise.all(Array.from({ length: 20 }, async () => {
    while (redelivered < unanswered.length) {
      const payload = unanswered[redelivered++]!
      redeliveryStatuses.add((await d.webhook(payload)).status)
    }
  }))
  t.same([...redeliveryStatuses], [200], `${unanswered.length} redelivered events all answered 200`)

  const finalOrders = await check.db.selectFrom('orders').select(['id', 'status']).where('provider_checkout_id', 'like', 'cs_crash_%').execute()
  const library = await check.db.selectFrom('library').select(['order_id']).execute()
  const events = await check.db.selectFrom('payment_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  await check.close()
  t.equal(finalOrders.filter((o) => o.status === 'paid').length, orders.length, `all ${orders.length} orders are paid`)
  t.equal(library.length, orders.length, `exactly ${orders.length} grants, one per order`)
  t.equal(new Set(library.map((row) => row.order_id)).size, orders.length, 'no order granted twice')
  t.equal(events.n, orders.length * 2, 'every distinct event id recorded once')
  const grantLogs = (server.output().match(/order paid and granted/g) ?? []).length
  t.ok(grantLogs <= orders.length - okBefore.filter((i) => results[i]!.body.includes('"granted"')).length, 'no grant is logged twice across the restart')

  await checkStore(t, d, started)
  t.equal((await fetch(`${d.url}/healthz`)).status, 200)
  await server.kill('SIGTERM')
  t.comment(`figures: crashes survived=${crashes}, uploads answered before crash=${stored.length}/20, events=${payloads.length} (answered before crash ${okBefore.length}, redelivered ${unanswered.length}), orders=${orders.length}, grants=${library.length}, lost=0 in ${Date.now() - started} ms`)
})

t.test('at start, files of interrupted uploads are handled: temporary ones removed, complete ones without a row quarantined; others are kept', async (t) => {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  t.equal((await h.upload(admin)).statusCode, 303)
  const row = await h.app.db.selectFrom('content').selectAll().executeTakeFirstOrThrow()
  const storage = h.config.storage
  const orphanPdf = `${randomUUID()}.pdf`
  const orphanPng = `${randomUUID()}.png`
  await writeStored(storage, orphanPdf, pdfBytes('orphan'))
  await writeStored(storage, orphanPng, pngBytes())
  // Left by the crash of a run five minutes ago: inside the sweep's window.
  for (const name of [orphanPdf, orphanPng]) await ageStored(storage, name, 5 * 60_000)
  // A folder's half-written upload (an object store has none: an unfinished multipart upload is no object).
  if (storage.kind === 'folder') await writeStored(storage, `.tmp-${randomUUID()}`, 'half')
  await writeStored(storage, 'README.txt', 'not ours')
  await writeStored(storage, 'notes.pdf', 'not ours either')

  // A second start on the same database and store, as after a crash.
  const restarted = await buildApp(loadConfig(testEnv(h.dir, h.stripe.url, h.idp.url)), { pdfJobs: 'on-demand' })
  await restarted.ready()
  await restarted.close()
  const names = await storeNames(storage)
  const quarantined = storage.kind === 'folder'
    ? ['.quarantine']
    : [orphanPdf, orphanPng].map((name) => `.quarantine/${name}`)
  t.same(names.sort(), [...quarantined, '.store-id', row.file_key, row.preview_key, 'README.txt', 'notes.pdf'].sort(), 'the orphans and the temporary file are gone from the store')
  if (storage.kind === 'folder') t.same((await readdir(join(storage.dir, '.quarantine'))).sort(), [orphanPdf, orphanPng].sort(), 'the orphans were moved to quarantine, not deleted')
  t.same(await readStored(storage, `.quarantine/${orphanPdf}`), pdfBytes('orphan'))
})
