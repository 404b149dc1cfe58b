import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { openDatabase } from '../../src/db/database.js'
import { runnerContract } from '../helpers/runner-contract.js'

// The Runner contract on SQLite: a fresh database file per case (WAL and BEGIN IMMEDIATE as the app runs them).
runnerContract(t, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'runner-'))
  const handle = openDatabase(join(dir, 'runner.db'))
  return {
    runner: handle.runner,
    db: handle.db,
    async close () {
      await handle.close()
      await rm(dir, { recursive: true, force: true })
    }
  }
})

t.test('changeStamp moves with a commit on this connection and with one by another connection', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'runner-'))
  const handle = openDatabase(join(dir, 'runner.db'))
  const other = openDatabase(join(dir, 'runner.db'))
  t.teardown(async () => {
    await other.close()
    await handle.close()
    await rm(dir, { recursive: true, force: true })
  })
  await handle.sqlite!.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY)')
  const first = await handle.changeStamp()
  t.equal(await handle.changeStamp(), first, 'nothing written: the same stamp')
  await handle.runner.run(handle.db.insertInto('notes' as never).values({ id: 1 } as never))
  const second = await handle.changeStamp()
  t.not(second, first, 'a write here moves it')
  other.sqlite!.exec('INSERT INTO notes (id) VALUES (2)')
  t.not(await handle.changeStamp(), second, 'a commit by another connection moves it')
})
