// Worker threads start here: @sluice/core ships TypeScript sources, and the
// user's flow module may be TypeScript too, so a loader is registered first.
import { register } from "tsx/esm/api"

register()
await import("./worker.ts")
