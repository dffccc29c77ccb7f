#!/usr/bin/env node
/**
 * The `sluice` binary.
 *
 * @since 0.1.0
 */
import { main } from "./SluiceCommand.js"

main(process.argv)
