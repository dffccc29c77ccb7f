/**
 * The maintained list of recovery mutations that `pnpm mutate` applies one at
 * a time (issue #16). Each is a plausible bug in the recovery logic, written
 * as an exact text to find in one file and what to put there instead; the
 * suites named must catch it. A new recovery rule adds the mutations that
 * break it when it lands (timers, rescale, file identity, checksums).
 *
 * An anchor that is not found exactly once is reported as "anchor not found":
 * the file changed, and the entry must be brought up to date with it.
 */

/** A vitest project and, optionally, the files of it to run (paths inside the project). */
export interface Suite {
  readonly project: string
  readonly files?: ReadonlyArray<string>
}

export interface Mutation {
  readonly id: string
  /** Path from the repository root. */
  readonly file: string
  /** Text that occurs exactly once in `file`. */
  readonly find: string
  readonly replace: string
  readonly suites: ReadonlyArray<Suite>
  /** Why this is a bug someone could write, and what it breaks. */
  readonly why: string
}

const memoryRules: Suite = { project: "store-testkit", files: ["test/MemoryStore.test.ts"] }
const crashProperty: Suite = { project: "store-testkit", files: ["test/CrashProperty.test.ts"] }
const threads: Suite = { project: "platform-node", files: ["test/RecoveryOnThreads.test.ts"] }
const sqliteStore: Suite = {
  project: "recovery-sqlite",
  files: [
    "test/SqliteRules.test.ts",
    "test/SqliteBackend.test.ts",
    "test/SqliteCommit.test.ts",
    "test/SqliteFaults.test.ts"
  ]
}
const sqliteStorageFaults: Suite = { project: "recovery-sqlite", files: ["test/SqliteStorageFaults.test.ts"] }
const fileInputs: Suite = { project: "core", files: ["test/Input.test.ts"] }
const statefulOperators: Suite = { project: "core", files: ["test/Stateful.test.ts"] }

export const mutations: ReadonlyArray<Mutation> = [
  {
    id: "merge-forwards-first-barrier",
    file: "packages/core/src/internal/operators.ts",
    find: `    return this.alignment.barrier(
      slot,
      transaction.epoch,
      Effect.suspend(() => this.forwardBarrier(transaction)),
      this.pass
    )`,
    replace: `    return Effect.suspend(() => {
      if (this.alignment.forwardedEpoch >= transaction.epoch) return Effect.void
      this.alignment.forwardedEpoch = transaction.epoch
      return this.forwardBarrier(transaction)
    })`,
    suites: [memoryRules, threads],
    why: "a merge forwards epoch e's barrier as soon as its first upstream delivers it; items of e from a slower " +
      "upstream (one behind an exchange) are snapshotted in e + 1 while e commits their input positions (R2)"
  },
  {
    id: "window-close-not-snapshotted",
    file: "packages/core/src/internal/windowOperator.ts",
    find: "if (state.windows.length > 0 && this.closeDue(key, state, now, closed, all)) this.markDirty(key, entry)",
    replace: "if (state.windows.length > 0) this.closeDue(key, state, now, closed, all)",
    suites: [memoryRules],
    why: "windows closed at a barrier or at end of input leave the key's snapshot as it was, so a resume or a " +
      "finished flow run again emits them once more (R12, R13)"
  },
  {
    id: "window-clock-reset-on-resume",
    file: "packages/core/src/internal/windowOperator.ts",
    find: `  private watermark(state: KeyWindows, now: number): number {`,
    replace: `  override load(snapshots: Parameters<KeyedStateOperator["load"]>[0]) {
    // the clock taken as run-time state: every resumed key starts with no watermark
    return Effect.tap(super.load(snapshots), () => {
      for (const entry of this.entries.values()) (entry.state as KeyWindows).maxTimestamp = null
    })
  }

  private watermark(state: KeyWindows, now: number): number {`,
    suites: [memoryRules, crashProperty],
    why: "a key's watermark is rebuilt from scratch after a resume, so an event that was late before a crash is " +
      "folded into a window after it (R12)"
  },
  {
    id: "sqlite-progress-own-transaction",
    file: "packages/recovery-sqlite/src/internal/backend.ts",
    find: `          yield* writeOutputs(step, epoch, outputs)
          yield* step(
            \`INSERT INTO sluice_progress (worker_index, epoch, committed_at) VALUES (?, ?, ?)
           ON CONFLICT (worker_index) DO UPDATE SET epoch = excluded.epoch, committed_at = excluded.committed_at\`,
            [workerIndex, epoch, committedAt]
          )
        })
      )`,
    replace: `          yield* writeOutputs(step, epoch, outputs)
        })
      )
      yield* inTransaction(
        sql,
        step(
          \`INSERT INTO sluice_progress (worker_index, epoch, committed_at) VALUES (?, ?, ?)
           ON CONFLICT (worker_index) DO UPDATE SET epoch = excluded.epoch, committed_at = excluded.committed_at\`,
          [workerIndex, epoch, committedAt]
        )
      )`,
    suites: [sqliteStore],
    why: "the progress mark commits in a transaction of its own after the state and outputs: a failure between " +
      "the two leaves an epoch's writes without its mark (R1)"
  },
  {
    id: "resume-at-max-over-workers",
    file: "packages/core/src/internal/storeKit/agreement.ts",
    find: "  agreedEpoch(progress, workerCount) + 1",
    replace: "  Math.max(0, ...Array.from({ length: workerCount }, (_, w) => lastCompleted(progress, w) ?? 0)) + 1",
    suites: [memoryRules, threads],
    why: "the resume epoch follows the worker furthest ahead instead of the one furthest behind, so epochs some " +
      "worker never completed are skipped (R3)"
  },
  {
    id: "state-decoded-without-schema",
    file: "packages/core/src/internal/stateCodec.ts",
    find: "fromEncoded: (encoded) => Either.mapLeft(decodeEither(encoded), formatIssue)",
    replace: "fromEncoded: (encoded) => Either.right(encoded as any)",
    suites: [memoryRules],
    why: "snapshots are trusted as they are, so state written by an older schema reaches the step undecoded (R8)"
  },
  {
    id: "file-input-resumes-one-byte-late",
    file: "packages/core/src/internal/fileInput.ts",
    find: "    let offset = position.offset\n",
    replace: "    let offset = position.offset + 1\n",
    suites: [memoryRules],
    why: "the stored position is taken as the last byte read rather than the first one to read, so a resumed file " +
      "input loses the first byte of the next line (R11)"
  },
  {
    id: "sqlite-discard-keeps-outputs",
    file: "packages/recovery-sqlite/src/internal/backend.ts",
    find: `            yield* run("DELETE FROM sluice_outputs WHERE epoch >= ?", [epoch])
`,
    replace: "",
    suites: [sqliteStore],
    why: "discarding the epochs a resume redoes keeps their transactional output, so it is delivered twice (R5)"
  },
  {
    id: "alignment-forwards-first-sender",
    file: "packages/core/src/internal/operators.ts",
    find: "if (this.forwardedEpoch >= epoch || this.barrierEpoch.some((e) => e < epoch)) return Effect.void",
    replace: "if (this.forwardedEpoch >= epoch) return Effect.void",
    suites: [memoryRules, threads],
    why: "every aligned meeting point (merges and the exchange between workers) forwards a barrier at its first " +
      "sender's, so a step snapshots epoch e before the slower senders delivered all of e (R2)"
  },
  {
    id: "tombstones-not-written",
    file: "packages/core/src/internal/operators.ts",
    find: "if (!this.entries.has(key)) transaction.write(this.stepId, key, null)",
    replace: "if (!this.entries.has(key)) void key",
    suites: [memoryRules, crashProperty],
    why: "a deleted key writes no tombstone, so a resume brings back the state it had before the delete (R1, R4)"
  },
  {
    id: "end-pending-not-snapshotted",
    file: "packages/core/src/internal/operators.ts",
    find: "StateCodec.encodeJson(this.emitsAtEnd ? [encoded, entry.pending] : encoded)",
    replace: "StateCodec.encodeJson(this.emitsAtEnd ? [encoded, false] : encoded)",
    suites: [memoryRules, crashProperty],
    why: "a step that emits at end of input forgets across a resume which keys changed since their last emission, " +
      "so the resumed run's final output misses them (R4, R13)"
  },
  {
    id: "updated-key-not-marked-dirty",
    file: "packages/core/src/internal/operators.ts",
    find: "              if (!entry.dirty) this.markDirty(key, entry)",
    replace: "              void entry.dirty",
    suites: [memoryRules, crashProperty],
    why: "the fast path of statefulMap for an existing key skips marking it changed, so only new keys are " +
      "snapshotted and a resume reads stale counts (R1, R4)"
  },
  {
    id: "sqlite-checksum-not-checked",
    file: "packages/recovery-sqlite/src/internal/resume.ts",
    find: "if (StoreKit.snapshotChecksum(stepId, key, value) !== checksum) {",
    replace: "if (StoreKit.snapshotChecksum(stepId, key, value) !== checksum && false) {",
    suites: [sqliteStorageFaults],
    why: "the resume reads the checksum column but never compares it, so a damaged value is resumed as real state " +
      "(issue 12, item 5)"
  },
  {
    id: "file-identity-not-checked",
    file: "packages/core/src/internal/fileInput.ts",
    find: "if (!sameFile) return yield* new InputFileChanged(",
    replace: "if (!sameFile && false) return yield* new InputFileChanged(",
    suites: [fileInputs],
    why: "a file replaced by renaming another over it is read on from the old offset: lines lost or a fragment " +
      "counted (issue 12, item 3)"
  },
  {
    id: "timers-not-rebuilt-on-resume",
    file: "packages/core/src/internal/statefulOperator.ts",
    find: "        if (this.timersToRebuild) {",
    replace: "        if (this.timersToRebuild && false) {",
    suites: [statefulOperators, { project: "store-testkit", files: ["test/StatefulCrashProperty.test.ts"] }],
    why: "timers come from state, but after a resume the loaded keys' due times are never computed, so a session " +
      "that was waiting for its timeout never closes (issue 13)"
  },
  {
    id: "lazy-restore-forgets-deletions",
    file: "packages/core/src/internal/operators.ts",
    find: "        this.absent?.add(key)",
    replace: "",
    suites: [memoryRules, { project: "core", files: ["test/LazyRestore.test.ts"] }],
    why: "a key deleted after a lazy resume is read again from the store on its next item, and comes back with " +
      "the snapshot it had before the deletion (issue 15)"
  },
  {
    id: "lazy-restore-skips-unseen-keys-at-end",
    file: "packages/core/src/internal/operators.ts",
    find: "    if (!this.visitsEveryKeyAtEnd) return",
    replace: "    return",
    suites: [memoryRules, { project: "core", files: ["test/LazyRestore.test.ts"] }],
    why: "a fold that emits at end, or onEof, after a lazy resume visits only the keys items reached since the " +
      "resume: the pending keys of the crashed run are never emitted (issue 15)"
  }
]
