import t from 'tap'
import { migrateToLatest } from '../../src/db/database.js'
import { openPostgres } from '../../src/db/postgres.js'
import { createSettings } from '../../src/modules/settings/settings.js'
import { startPostgres } from '../helpers/postgres.js'

const cluster = await startPostgres(t)

const fields = (name: string): { store_name: string, tagline: string, contact_email: string, refund_policy: string } =>
  ({ store_name: name, tagline: '', contact_email: '', refund_policy: '' })

t.test('on PostgreSQL an instance\'s settings follow another instance\'s save at its next fresh()', { skip: cluster.skip }, async (t) => {
  const url = await cluster.build()
  const a = openPostgres(url)
  const b = openPostgres(url)
  t.teardown(async () => { await a.close(); await b.close() })
  await migrateToLatest(a.db)
  const onA = await createSettings(a)
  const onB = await createSettings(b)
  t.equal((await onB.fresh()).storeName, 'PDF Market', 'defaults before any save')

  await onA.save(fields('Saved on A'))
  t.equal(onB.current().storeName, 'PDF Market', 'current() is what B last read')
  t.equal((await onB.fresh()).storeName, 'Saved on A', 'fresh() sees A\'s save at once')
  t.equal(onB.current().storeName, 'Saved on A', 'and current() keeps it for the rest of the request')

  await onB.save(fields('Saved on B'))
  t.equal((await onA.fresh()).storeName, 'Saved on B', 'and the other way round')
  const before = onA.current()
  t.equal(await onA.fresh(), before, 'no save since: the same object, nothing reloaded')
})
