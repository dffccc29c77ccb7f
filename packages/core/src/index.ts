/**
 * Sluice: durable, recoverable stateful dataflows on Effect.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as Dataflow from "./Dataflow.js"

/**
 * @since 0.1.0
 */
export * as DataflowError from "./DataflowError.js"

/**
 * @since 0.1.0
 */
export * as Epoch from "./Epoch.js"

/**
 * @since 0.1.0
 */
export * as Input from "./Input.js"

/**
 * @since 0.1.0
 */
export * as Output from "./Output.js"

/**
 * @since 0.1.0
 */
export * as RecoveryStore from "./RecoveryStore.js"

/**
 * @since 0.1.0
 */
export * as Window from "./Window.js"

/**
 * @since 0.1.0
 */
export * as StoreKit from "./StoreKit.js"

/**
 * @since 0.1.0
 */
export * as WorkerRuntime from "./WorkerRuntime.js"

/**
 * @since 0.2.0
 */
export * as Metrics from "./Metrics.js"

/**
 * @since 0.2.0
 */
export * as RunEvents from "./RunEvents.js"
