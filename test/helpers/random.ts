import fc from 'fast-check'

export interface Seed {
  value: number
  /** `seed=<n> (replay with FUZZ_SEED=<n>)`: part of every failure message of a randomised test. */
  note: string
}

/**
 * The seed of a randomised test: FUZZ_SEED when set (to replay a failure), otherwise the clock, so
 * each run tries new inputs. A failure names it; a comment alone scrolls away in CI logs.
 */
export function fuzzSeed (): Seed {
  const given = process.env.FUZZ_SEED
  const value = given === undefined || given === '' ? Date.now() % 2 ** 31 : Number(given)
  // A typo must not silently become NaN, which fast-check would treat as another random seed.
  if (!Number.isSafeInteger(value)) throw new Error(`FUZZ_SEED must be an integer, not "${given}"`)
  return { value, note: `seed=${value} (replay with FUZZ_SEED=${value})` }
}

/** fast-check with `seed` for every property; a counterexample's report ends with the replay note. */
export function seedFastCheck (seed: Seed, options: { numRuns: number }): void {
  fc.configureGlobal({
    seed: seed.value,
    numRuns: options.numRuns,
    endOnFailure: true,
    reporter: (details) => {
      if (details.failed) throw new Error(`${fc.defaultReportMessage(details)}\n${seed.note}`, { cause: details.errorInstance })
    }
  })
}

/** A small deterministic generator (LCG): the same seed gives the same sequence. */
export function seededRandom (seed: Seed): () => number {
  let state = seed.value >>> 0
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0
    return state / 2 ** 32
  }
}
