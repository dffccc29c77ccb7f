import { RecoveryStore } from "@sluice/core"
import { backendSuite } from "@sluice/store-testkit"
import { Effect } from "effect"

const handles = new WeakMap<RecoveryStore.Backend, RecoveryStore.MemoryHandle>()

backendSuite(
  "memory",
  () =>
    Effect.sync(() => {
      const handle = RecoveryStore.makeMemoryHandle()
      const backend = RecoveryStore.memoryBackend(handle)
      handles.set(backend, handle)
      return backend
    }),
  {
    countVersions: (backend) =>
      Effect.sync(() => {
        const stats = handles.get(backend)!.stats()
        return stats.snapshots + stats.tombstones
      }),
    readOutputs: (backend, destination) =>
      Effect.sync(() =>
        (handles.get(backend)!.outputs.get(destination) ?? []).map((record) => ({
          epoch: record.epoch,
          value: new TextDecoder().decode(record.value)
        }))
      )
  }
)
