import { recoverySuite } from "../../core/test/rules/index.js"
import { kafkaFixture } from "./fixtures/KafkaFixture.js"

recoverySuite(kafkaFixture)
