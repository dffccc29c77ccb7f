import { assert, describe, it } from "@effect/vitest"
import { DataflowError, RecoveryStore } from "@sluice/core"
import { Cause, Effect, Exit, Option } from "effect"
import {
  expectedRescaleOutputs,
  expectedRescaleState,
  readRescaledLayout,
  RESCALE_DATAFLOW,
  rescaleTo,
  writeRescaleLayout
} from "../../RescaleRuns.js"
import type { OpenedStore, StoreFixture } from "../../StoreFixture.js"

/** The stand-in for a process killed at a step of a rescale. */
class Killed extends Error {}

/**
 * The backend with a kill after its `killAfter`-th write of a rescale
 * (discardFrom, reset, writeMeta, commit, the journal's write and clear);
 * `-1` kills before the first.
 */
const killedAt = (backend: RecoveryStore.Backend, killAfter: number) => {
  let writes = 0
  const kill = Effect.suspend(() => Effect.die(new Killed(`killed after write ${writes}`)))
  const counted = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.suspend(() =>
      writes > killAfter ? kill : Effect.tap(effect, () => writes++ === killAfter ? kill : Effect.void)
    )
  const wrapped: RecoveryStore.Backend = {
    name: backend.name,
    open: (options) =>
      Effect.map(backend.open(options), (worker): RecoveryStore.BackendWorker => ({
        ...worker,
        writeMeta: (meta) => counted(worker.writeMeta(meta)),
        discardFrom: (epoch) => counted(worker.discardFrom(epoch)),
        commit: (epoch, writes, outputs) => counted(worker.commit(epoch, writes, outputs)),
        ...(worker.reset === undefined ? {} : { reset: counted(worker.reset) }),
        ...(worker.rescaleJournal === undefined ? {} : {
          rescaleJournal: {
            read: worker.rescaleJournal.read,
            write: (plan) => counted(worker.rescaleJournal!.write(plan)),
            clear: counted(worker.rescaleJournal.clear)
          }
        })
      }))
  }
  return { backend: wrapped, writes: () => writes }
}

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
  assert.isTrue(Option.isSome(failure), `expected a typed failure, got ${Exit.isFailure(exit) ? exit.cause : ""}`)
  return Option.getOrThrow(failure)
}

/** The outputs of the old layout's agreed epochs, each once, whatever order the store keeps them in. */
const assertOutputs = (store: OpenedStore, from: number) =>
  Effect.gen(function*() {
    if (store.readOutputs === undefined) return
    const seen = (yield* store.readOutputs("out")).map((record) => record.value).sort()
    assert.deepStrictEqual(seen, expectedRescaleOutputs(from))
  })

/** A run without `rescale: true`, or of another dataflow, refuses and leaves every byte of the store as it was. */
const assertRefusalsChangeNothing = (store: OpenedStore, backend: RecoveryStore.Backend, counts: number) =>
  Effect.gen(function*() {
    const before = yield* store.contents!()
    const plain = yield* RecoveryStore.make(backend).open({
      dataflowId: RESCALE_DATAFLOW,
      workerIndex: 0,
      workerCount: counts
    })
      .pipe(Effect.scoped, Effect.exit)
    const refused = failureOf(plain)
    assert.isTrue(
      refused instanceof DataflowError.RescaleUnfinished || refused instanceof DataflowError.RecoveryMismatch,
      `a run without rescale: true failed with ${refused}`
    )
    if (refused instanceof DataflowError.RecoveryMismatch) assert.include(refused.message, "rescale: true")
    const other = failureOf(yield* Effect.exit(rescaleTo(backend, counts, "another-dataflow")))
    assert.instanceOf(other, DataflowError.RecoveryMismatch)
    assert.deepStrictEqual(yield* store.contents!(), before, "a refused run changed the store")
  })

/**
 * Crash-safe rescaling: a rescale killed after any of its writes leaves a
 * store that a rerun with `rescale: true`, with the old or the new worker
 * count, brings to the state of a rescale that was never killed; a run that
 * refuses changes nothing.
 */
export const r15CrashSafeRescale = (fixture: StoreFixture) =>
  describe(`rescaling killed at every step (${fixture.name})`, () => {
    const moves: ReadonlyArray<readonly [number, number]> = [[2, 3], [3, 2]]
    for (const [from, to] of moves) {
      it.scoped(
        `an uninterrupted rescale from ${from} to ${to} workers moves the resume point's state`,
        () =>
          Effect.gen(function*() {
            const store = yield* fixture.fresh()
            if (store.backend === undefined) return
            const backend = yield* store.backend()
            yield* writeRescaleLayout(backend, from)
            assert.deepStrictEqual(yield* rescaleTo(backend, to), Option.some(from))
            assert.deepStrictEqual(yield* readRescaledLayout(backend, to), expectedRescaleState(from))
            yield* assertOutputs(store, from)
            // rescaled once: asking again changes nothing
            assert.deepStrictEqual(yield* rescaleTo(backend, to), Option.none())
          }),
        120_000
      )

      it.scoped(
        `a rescale from ${from} to ${to} killed after each write is finished by a rerun of either count`,
        () =>
          Effect.gen(function*() {
            // counts the writes of one rescale, so that every kill point is tried
            const probe = yield* fixture.fresh()
            if (probe.backend === undefined) return
            const counting = killedAt(yield* probe.backend(), Number.POSITIVE_INFINITY)
            yield* writeRescaleLayout(counting.backend, from)
            const setupWrites = counting.writes()
            yield* rescaleTo(counting.backend, to)
            const rescaleWrites = counting.writes() - setupWrites
            assert.isAtLeast(rescaleWrites, 2 * (from + to), "the rescale writes every worker of both layouts")
            for (let killAfter = -1; killAfter < rescaleWrites - 1; killAfter++) {
              for (const rerunWith of [from, to]) {
                yield* Effect.scoped(Effect.gen(function*() {
                  const store = yield* fixture.fresh()
                  const backend = yield* store.backend!()
                  yield* writeRescaleLayout(backend, from)
                  const killed = killedAt(backend, killAfter)
                  const exit = yield* Effect.exit(rescaleTo(killed.backend, to))
                  assert.isTrue(
                    Exit.isFailure(exit) && Cause.isDie(exit.cause),
                    `the rescale killed after write ${killAfter} did not stop: ${exit}`
                  )
                  if (store.contents !== undefined) yield* assertRefusalsChangeNothing(store, backend, from + to)
                  const rerun = yield* Effect.exit(rescaleTo(backend, rerunWith))
                  assert.isTrue(
                    Exit.isSuccess(rerun),
                    `kill after write ${killAfter}, rerun with ${rerunWith}: ${rerun}`
                  )
                  assert.deepStrictEqual(
                    yield* readRescaledLayout(backend, rerunWith),
                    expectedRescaleState(from),
                    `kill after write ${killAfter}, rerun with ${rerunWith} workers`
                  )
                  yield* assertOutputs(store, from)
                }))
              }
            }
          }),
        600_000
      )
    }
  })
