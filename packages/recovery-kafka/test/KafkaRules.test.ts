import { recoverySuite } from "@sluice/store-testkit"
import { kafkaFixture } from "./fixtures/KafkaFixture.js"

recoverySuite(kafkaFixture)
