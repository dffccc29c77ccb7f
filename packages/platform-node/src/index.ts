/**
 * Sluice on Node: worker threads for `Dataflow.run(flow, { workers: n })`.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as NodeWorkers from "./NodeWorkers.js"
