import type { Compilable, CompiledQuery } from 'kysely'

/** What stands for an argument while the query is compiled. */
class Slot {
  constructor (readonly index: number) {}
}

/** Where argument `index` goes in the query being built (typed as the value it stands for). */
export type Arg = <T>(index: number) => T

/**
 * A hot query compiled once: `build` places each argument with arg(i) where its value goes; the
 * SQL is compiled at the first call and each call only fills in its arguments (Kysely's compile
 * walks the whole query tree every time, a good part of a page's CPU). The runners prepare each
 * SQL text once, so the statement is reused as well. Every argument must be a bound parameter.
 */
export function prepared<A extends unknown[], R> (build: (arg: Arg) => Compilable<R>): (...args: A) => Compilable<R> {
  let compiled: CompiledQuery<R> | undefined
  let positions: Array<{ at: number, index: number }> = []
  return (...args: A): Compilable<R> => {
    if (compiled === undefined) {
      compiled = build(<T>(index: number) => new Slot(index) as T).compile()
      positions = compiled.parameters.flatMap((value, at) => value instanceof Slot ? [{ at, index: value.index }] : [])
      if (positions.length !== args.length) throw new Error(`prepared query: ${args.length} arguments, ${positions.length} placed: ${compiled.sql}`)
    }
    const parameters = [...compiled.parameters]
    for (const { at, index } of positions) parameters[at] = args[index]
    const query: CompiledQuery<R> = { ...compiled, parameters }
    return { compile: () => query }
  }
}
