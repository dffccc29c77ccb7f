/**
 * Sluice on Node: worker threads for `Dataflow.run(flow, { workers: n })`.
 *
 * @since 0.1.0
 */
export {}
