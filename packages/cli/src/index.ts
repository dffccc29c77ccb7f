/**
 * The `sluice` command and what it is made of.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as GraphFormat from "./GraphFormat.js"

/**
 * @since 0.1.0
 */
export * as SluiceCommand from "./SluiceCommand.js"

/**
 * @since 0.1.0
 */
export * as StoreLocation from "./StoreLocation.js"
