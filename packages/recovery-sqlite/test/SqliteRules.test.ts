import { recoverySuite } from "../../core/test/rules/index.js"
import { sqliteFixture } from "./fixtures/SqliteFixture.js"

recoverySuite(sqliteFixture)
