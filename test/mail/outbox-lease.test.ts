import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { migrateToLatest, openDatabase } from '../../src/db/database.js'
import { openPostgres } from '../../src/db/postgres.js'
import { createOutbox, type Outbox } from '../../src/modules/mail/outbox.js'
import { startPostgres } from '../helpers/postgres.js'

const cluster = await startPostgres(t)
const LEASE = 60_000

/** Two instances' views of one outbox: two SQLite connections on one file, or two pg pools on one database. */
type Pair = [Outbox, Outbox]

async function sqlitePair (t: Test): Promise<Pair> {
  const dir = await mkdtemp(join(tmpdir(), 'market-lease-'))
  const path = join(dir, 'marketplace.db')
  const a = openDatabase(path)
  await migrateToLatest(a.db)
  const b = openDatabase(path)
  t.teardown(async () => { await a.close(); await b.close(); await rm(dir, { recursive: true, force: true }) })
  return [createOutbox(a), createOutbox(b)]
}

async function postgresPair (t: Test): Promise<Pair> {
  const url = await cluster.build()
  const a = openPostgres(url)
  const b = openPostgres(url)
  t.teardown(async () => { await a.close(); await b.close() })
  await migrateToLatest(a.db)
  return [createOutbox(a), createOutbox(b)]
}

const engines: Array<[string, (t: Test) => Promise<Pair>, string | false]> = [
  ['SQLite', sqlitePair, false],
  ['PostgreSQL', postgresPair, cluster.skip]
]

for (const [engine, pair, skip] of engines) {
  t.test(`${engine}: two instances draining one outbox side by side claim every due mail exactly once`, { skip }, async (t) => {
    const [a, b] = await pair(t)
    const MAILS = 200
    const now = new Date()
    for (let i = 0; i < MAILS; i++) await a.add('links', `buyer-${i}@example.com`, null, now)
    const sentBy = new Map<number, string[]>()
    async function sender (outbox: Outbox, holder: string): Promise<void> {
      for (;;) {
        const row = await outbox.claim(holder, LEASE)
        if (row === undefined) return
        sentBy.set(row.id, [...(sentBy.get(row.id) ?? []), holder])
        await outbox.sent(row.id, null, new Date(), 'sent by the test')
      }
    }
    // Four senders per instance: more racing than the app's one per instance.
    await Promise.all([0, 1, 2, 3].flatMap((i) => [sender(a, `a:1/${i}`), sender(b, `b:1/${i}`)]))
    t.equal(sentBy.size, MAILS, `all ${MAILS} mails sent`)
    t.same([...sentBy.values()].filter((holders) => holders.length > 1), [], 'none sent twice')
    const holders = new Set([...sentBy.values()].map(([holder]) => holder!.split(':')[0]))
    t.same([...holders].sort(), ['a', 'b'], 'both instances sent some')
    t.same(await a.due(), [], 'nothing left waiting')
  })

  t.test(`${engine}: a claim holds until its lease runs out; then another instance takes the mail, and marking it sent or failed ends the claim`, { skip }, async (t) => {
    const [a, b] = await pair(t)
    const start = new Date('2030-01-01T00:00:00.000Z')
    const at = (ms: number): Date => new Date(start.getTime() + ms)
    const id = await a.add('links', 'buyer@example.com', null, start)

    const first = await a.claim('host-a:3001/1', LEASE, start)
    t.equal(first?.id, id, 'instance A claims the due mail')
    t.equal(first?.claimed_by, 'host-a:3001/1')
    t.equal(await b.claim('host-b:3002/1', LEASE, at(LEASE - 1)), undefined, 'instance B finds nothing while A\'s lease holds')
    t.same(await b.due(at(LEASE - 1)), [], 'a held mail is not due for anyone else')

    // A dies without marking it: the lease runs out and B sends.
    const second = await b.claim('host-b:3002/1', LEASE, at(LEASE + 1))
    t.equal(second?.id, id, 'after the lease, instance B takes it over')
    t.equal(await a.claim('host-a:3001/1', LEASE, at(LEASE + 2)), undefined, 'and A cannot take it back while B\'s lease holds')

    // A failed attempt frees the row for whoever comes after its backoff.
    await b.failed(id, 1, 'ECONNREFUSED: SMTP down', at(LEASE + 3))
    t.equal(await a.claim('host-a:3001/1', LEASE, at(LEASE + 4)), undefined, 'not before its next attempt')
    const third = await a.claim('host-a:3001/1', LEASE, at(LEASE + 3 + 5_000))
    t.equal(third?.id, id, 'after the backoff anyone may claim it (here A)')
    t.equal(third?.attempts, 1)

    await a.sent(id, null, at(LEASE + 6_000), 'done')
    t.equal(await b.claim('host-b:3002/1', LEASE, at(10 * LEASE)), undefined, 'a sent mail is never claimed again')
  })

  t.test(`${engine}: a restarted instance frees what its crashed run held, and nothing another instance holds`, { skip }, async (t) => {
    const [a, b] = await pair(t)
    const now = new Date()
    const mine = await a.add('links', 'one@example.com', null, now)
    const theirs = await a.add('links', 'two@example.com', null, now)
    t.equal((await a.claim('host-a:3001/100.aa', LEASE, now))?.id, mine, 'the crashed run of host-a:3001 held one mail')
    t.equal((await b.claim('host-a:30011/7.bb', LEASE, now))?.id, theirs, 'another instance (port 30011) holds the other')
    t.equal(await a.releaseClaimsOf('host-a:3001', 'host-a:3001/200.cc'), 1, 'the new run of host-a:3001 frees exactly one claim')
    const due = await a.due()
    t.same(due.map((row) => row.id), [mine], 'the crashed run\'s mail is due again at once; the other instance\'s is still held')
  })
}
