/**
 * The Kafka recovery store for Sluice dataflows.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as KafkaRecovery from "./KafkaRecovery.js"
