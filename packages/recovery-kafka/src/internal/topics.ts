/**
 * The store's two topics: their names, their creation and the checks that
 * they keep what a resume needs, and reading one partition to its end.
 */
import type { DataflowError } from "@sluice/core"
import type { KafkaClient } from "@sluice/kafka"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { Options } from "../KafkaRecovery.js"
import type { StoreErrors } from "./storeErrors.js"

/** The progress and state topics of a store. */
export interface Topics {
  readonly progress: string
  readonly state: string
}

/** The store's two topics; re-exported by `backend.ts` for the tests and the bench. */
export const topicsOf = (topicPrefix: string): Topics => ({
  progress: `${topicPrefix}-progress`,
  state: `${topicPrefix}-state`
})

/** @internal */
export const range = (from: number, to: number): Array<number> =>
  Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i)

/** How long topics the store created may stay missing from the broker's metadata. */
const TOPICS_VISIBLE_WITHIN = "10 seconds"

/**
 * Creates missing topics; refuses topics that would not keep what resume
 * needs. Returns their partition count.
 *
 * @internal
 */
export const ensureTopics = (
  client: KafkaClient.KafkaClient,
  options: Pick<Options, "replicationFactor" | "topicConfig">,
  topics: Topics,
  workerCount: number,
  errors: StoreErrors
): Effect.Effect<number, DataflowError.StoreUnavailable | DataflowError.StoreCorrupt> =>
  Effect.gen(function*() {
    const describeBoth = Effect.all([client.describeTopic(topics.progress), client.describeTopic(topics.state)], {
      concurrency: 2
    }).pipe(Effect.mapError(errors.unavailable("cannot describe the store's topics")))
    let [progress, state] = yield* describeBoth
    if (Option.isNone(progress) || Option.isNone(state)) {
      const existing = Option.isSome(progress) ? progress.value : Option.isSome(state) ? state.value : undefined
      const partitions = existing?.partitions ?? workerCount
      yield* Effect.forEach([topics.progress, topics.state], (topic) =>
        client.createTopic({
          topic,
          partitions,
          ...(options.replicationFactor === undefined ? {} : { replicationFactor: options.replicationFactor }),
          config: { ...options.topicConfig, "cleanup.policy": "compact" }
        }).pipe(Effect.mapError(errors.unavailable(`cannot create topic ${topic}`))), { concurrency: 2 })
      // described again: another worker may have created them first, with other settings. A topic just
      // created can be missing from the broker's metadata for a moment, or listed without its partitions
      // (seen on a loaded machine: the store was called corrupt): wait for both, for a while, rather than
      // judge a store by a half-updated metadata cache.
      const notVisible = errors.unavailable(
        `created topics ${topics.progress} and ${topics.state}, but the broker did not describe both within ` +
          `${TOPICS_VISIBLE_WITHIN}; check the broker's health and run again`
      )("metadata without the new topics")
      const created = yield* describeBoth.pipe(
        // both created here with one partition count (the existing one's, if one existed): until the
        // metadata shows both with it, a missing topic or partition is the cache, not the store
        Effect.filterOrFail(
          ([p, s]) =>
            Option.isSome(p) && Option.isSome(s) && p.value.partitions > 0 &&
            p.value.partitions === s.value.partitions,
          () => notVisible
        ),
        Effect.retry({
          schedule: Schedule.spaced("100 millis").pipe(Schedule.upTo(TOPICS_VISIBLE_WITHIN)),
          while: (error) => error === notVisible
        })
      )
      progress = created[0]
      state = created[1]
    }
    const described = [progress, state].flatMap((d) => Option.isSome(d) ? [d.value] : [])
    for (const topic of described) {
      const policy = topic.config["cleanup.policy"]
      if (policy !== "compact") {
        return yield* errors.corrupt(
          `topic ${topic.topic} has cleanup.policy ${policy ?? "(unset)"}; a sluice store needs compact, ` +
            `or the broker deletes snapshots and progress a resume needs`
        )
      }
    }
    // A rescale grows the state topic first: a state topic with more partitions is a growth stopped
    // halfway, which the rescale completes when it runs again.
    if (described.length !== 2 || described[0].partitions > described[1].partitions) {
      return yield* errors.corrupt(
        `topics ${topics.progress} and ${topics.state} must have the same partition count, one per worker`
      )
    }
    return described[0].partitions
  })

/**
 * Applies the records of one partition from `from` to the end it has when the
 * read starts, and returns that end: where the next read starts. `apply` is
 * plain code that answers the error a record is, or `undefined`: a resume
 * applies a record per snapshot version, a million of them, and an effect run
 * per record was a fifth of the restore's time (bench/PROFILE.md).
 *
 * @internal
 */
export const readPartition = <E>(
  client: KafkaClient.KafkaClient,
  errors: StoreErrors,
  where: { readonly topic: string; readonly partition: number; readonly from: number | "start" },
  apply: (record: KafkaClient.KafkaRecord) => E | undefined
): Effect.Effect<number, E | DataflowError.StoreUnavailable> =>
  Effect.gen(function*() {
    const { from, partition, topic } = where
    const ends = yield* client.endOffsets(topic, [partition]).pipe(
      Effect.mapError(errors.unavailable(`cannot read topic ${topic}`))
    )
    const end = ends.get(partition) ?? 0
    yield* client.read({ topic, partition, from, until: { before: end } }).pipe(
      Stream.mapError(errors.unavailable(`cannot read topic ${topic}`)),
      Stream.runForEachChunk((records) => {
        for (const record of records) {
          const failure = apply(record)
          if (failure !== undefined) return Effect.fail(failure)
        }
        return Effect.void
      })
    )
    return end
  })
