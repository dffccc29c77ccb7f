/**
 * Seeds for the random tests (fast-check properties, SIGKILL crash runs): a
 * new seed each run unless `SLUICE_SEED` names one, and on failure the seed
 * with the command that replays it, so a failure seen once can be run again.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { randomInt } from "node:crypto"

/**
 * The variable a replay sets.
 *
 * @since 0.1.0
 * @category seeds
 */
export const SEED_VARIABLE = "SLUICE_SEED"

/**
 * A seeded random number generator (mulberry32: small, good enough to pick
 * delays and kill points) returning numbers in [0, 1).
 *
 * @example
 * ```ts
 * import { TestSeed } from "@sluice/store-testkit"
 * const next = TestSeed.random(42)
 * const delayMs = Math.floor(next() * 100)
 * ```
 * @since 0.1.0
 * @category seeds
 */
export const random = (seed: number): () => number => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * The seed named by `SLUICE_SEED`, else a new one (a positive 31-bit integer,
 * which fast-check and the crash harnesses all accept).
 *
 * @example
 * ```ts
 * import { TestSeed } from "@sluice/store-testkit"
 * const seed = TestSeed.fromEnvironment()
 * ```
 * @since 0.1.0
 * @category seeds
 */
export const fromEnvironment = (): number => {
  const named = process.env[SEED_VARIABLE]
  if (named === undefined || named === "") return randomInt(1, 2 ** 31 - 1)
  const seed = Number(named)
  if (!Number.isSafeInteger(seed)) throw new RangeError(`${SEED_VARIABLE}=${named} is not an integer seed`)
  return seed
}

/**
 * The line that tells how to run a failed random test again with its seed.
 *
 * @example
 * ```ts
 * import { TestSeed } from "@sluice/store-testkit"
 * TestSeed.replayHint(42, "store-testkit", "test/CrashProperty.test.ts")
 * // "seed 42; replay: SLUICE_SEED=42 pnpm vitest run --project store-testkit test/CrashProperty.test.ts"
 * ```
 * @since 0.1.0
 * @category seeds
 */
export const replayHint = (seed: number, project: string, file: string): string =>
  `seed ${seed}; replay: ${SEED_VARIABLE}=${seed} pnpm vitest run --project ${project} ${file}`

/**
 * Runs a seeded test body; when it fails, prints the replay hint and adds it to
 * the error's message, which is all a CI log may keep of the run.
 *
 * @example
 * ```ts
 * import { TestSeed } from "@sluice/store-testkit"
 * const seed = TestSeed.fromEnvironment()
 * await TestSeed.replayable(seed, "store-testkit", "test/CrashProperty.test.ts", async () => {
 *   // a test drawn from `seed`
 * })
 * ```
 * @since 0.1.0
 * @category seeds
 */
export const replayable = async <A>(
  seed: number,
  project: string,
  file: string,
  body: () => Promise<A>
): Promise<A> => {
  try {
    return await body()
  } catch (error) {
    const hint = replayHint(seed, project, file)
    console.error(`random test failed with ${hint}`)
    if (error instanceof Error) error.message = `${error.message}\n(${hint})`
    throw error
  }
}

/**
 * {@link replayable} for a test written as an Effect, to `pipe` onto its body.
 *
 * @example
 * ```ts
 * import { TestSeed } from "@sluice/store-testkit"
 * import { Effect } from "effect"
 * const seed = TestSeed.fromEnvironment()
 * const test = Effect.void.pipe(TestSeed.replayableEffect(seed, "recovery-kafka", "test/ExactlyOnce.test.ts"))
 * ```
 * @since 0.1.0
 * @category seeds
 */
export const replayableEffect =
  (seed: number, project: string, file: string) => <A, E, R>(body: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.tapErrorCause(
      body,
      () => Effect.sync(() => console.error(`random test failed with ${replayHint(seed, project, file)}`))
    )
