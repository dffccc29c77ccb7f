/**
 * The conformance kit for Sluice recovery stores: the rule suite R1–R14 run
 * through real dataflows, the byte-level backend contract, and the fixtures
 * both use. A store author calls `recoverySuite(fixture)` and
 * `backendSuite(name, make)` from a vitest file; the memory, SQLite and Kafka
 * stores run exactly these.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * from "./BackendSuite.js"

/**
 * @since 0.1.0
 */
export * from "./CrashRuns.js"

/**
 * @since 0.1.0
 */
export * from "./RecoverySuite.js"

/**
 * @since 0.1.0
 */
export * from "./StoreFixture.js"

/**
 * @since 0.1.0
 */
export * from "./TestFlows.js"

/**
 * @since 0.1.0
 */
export * from "./WindowRuns.js"

/**
 * @since 0.1.0
 */
export * from "./WorkerRuns.js"

/**
 * @since 0.1.0
 */
export * from "./StatefulRuns.js"

/**
 * @since 0.1.0
 */
export * from "./RescaleRuns.js"

/**
 * @since 0.1.0
 */
export * as TestSeed from "./TestSeed.js"
