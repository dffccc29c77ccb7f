// Inside this repository the library runs from its TypeScript sources, and a
// worker thread does not inherit the parent's loader on Node 20: register tsx
// (a development dependency) in the thread, then run the worker. Built
// packages start threads at `worker.js` and never reach this file.
import { register } from "tsx/esm/api"

register()
await import("./worker.ts")
