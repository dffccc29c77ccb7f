/**
 * Kafka for Sluice: a resumable partitioned input, an at-least-once or
 * exactly-once output, and the client they share with the Kafka recovery
 * store.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as KafkaClient from "./KafkaClient.js"

/**
 * @since 0.1.0
 */
export * as KafkaError from "./KafkaError.js"

/**
 * @since 0.1.0
 */
export * as KafkaInput from "./KafkaInput.js"

/**
 * @since 0.1.0
 */
export * as KafkaOutput from "./KafkaOutput.js"
