// The pool's worker thread (piscina): every job that reads or writes PDF bytes runs here, never
// on the server's event loop. One task shape, dispatched on `op`.
import { inspect } from './inspect.js'
import { readStamp } from './read-stamp.js'
import { render } from './render.js'
import { sample } from './sample.js'
import { stamp, type StampMarks } from './stamp.js'

export type Task =
  | { op: 'inspect', input: string }
  | { op: 'render', input: string, pages: number, width: number }
  | { op: 'sample', input: string, output: string, pages: number }
  | { op: 'stamp', input: string, output: string, marks: StampMarks, incremental?: boolean }
  | { op: 'readStamp', input: string }
  // For the pool's own tests: a job that crashes its thread, never ends or exhausts its memory.
  | { op: 'fault', kind: 'exit' | 'hang' | 'oom' | 'throw' }

export default async function run (task: Task): Promise<unknown> {
  switch (task.op) {
    case 'inspect': return await inspect(task.input)
    case 'render': return await render(task.input, task)
    case 'sample': return await sample(task.input, task.output, task)
    case 'stamp': return await stamp(task.input, task.output, task.marks, { incremental: task.incremental })
    case 'readStamp': return await readStamp(task.input)
    case 'fault': return await fault(task.kind)
  }
}

async function fault (kind: 'exit' | 'hang' | 'oom' | 'throw'): Promise<never> {
  if (kind === 'exit') process.exit(1)
  if (kind === 'throw') throw new Error('a fault on purpose')
  if (kind === 'oom') {
    const hoard: unknown[] = []
    for (;;) hoard.push(new Array(1_000_000).fill({ n: hoard.length }))
  }
  for (;;) { /* a job that never ends, as a pathological file might make one */ }
}
