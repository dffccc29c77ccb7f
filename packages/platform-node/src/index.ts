/**
 * Sluice on Node: worker threads for `Dataflow.run(flow, { workers: n })`, and
 * the main of a program that runs a dataflow.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as NodeDataflow from "./NodeDataflow.js"

/**
 * @since 0.1.0
 */
export * as NodeWorkers from "./NodeWorkers.js"

/**
 * @since 0.2.0
 */
export * as NodeTelemetry from "./NodeTelemetry.js"
