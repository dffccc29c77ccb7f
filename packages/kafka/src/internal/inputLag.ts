import * as Metric from "effect/Metric"

/**
 * Records between a Kafka input's position and its partition's last stable
 * offset (the end a read_committed reader sees), set after every fetch. Listed
 * with the other metrics in `@sluice/core`'s `Metrics`; a worker thread's
 * values reach the calling thread with each epoch.
 *
 * @internal
 */
export const inputLag = Metric.gauge("sluice_kafka_input_lag", {
  description: "Records between a Kafka input's position and the partition's last stable offset"
})

/** @internal */
export const setInputLag = (topic: string, partition: number, lag: number) =>
  Metric.set(
    inputLag.pipe(Metric.tagged("topic", topic), Metric.tagged("partition", String(partition))),
    Math.max(0, lag)
  )
