import { assert, describe, it } from "@effect/vitest"
import { RecoveryStore } from "@sluice/core"
import { Effect } from "effect"
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { SqliteRecovery } from "../src/index.js"
import { packageDirectory } from "./fixtures/processes.js"

const openScript = path.join(packageDirectory, "test", "fixtures", "openStore.ts")
const isRoot = process.getuid?.() === 0
/**
 * Root meets no permission. In a user namespace of its own (`unshare --user`)
 * the same process keeps its uid on the files but loses the capability to
 * override their modes, so it meets the permissions a user without them meets,
 * and still reads this checkout wherever it lies (a clone in a private home or
 * a mode-700 temporary directory).
 */
const withoutOverride = ["unshare", "--user"]
const permissionsTestable = !isRoot || spawnSync(withoutOverride[0], [...withoutOverride.slice(1), "true"]).status === 0

interface Opened {
  readonly opened?: true
  readonly tag?: string
  readonly store?: string
  readonly message?: string
  readonly defect?: string
}

/**
 * Opens the store in `directory` in a child process; with `asAnotherUser`, one
 * that permissions bind when this process is root (root writes read-only files).
 */
const openInChild = (
  directory: string,
  options: { readonly asAnotherUser: boolean; readonly env?: Record<string, string> }
): Opened => {
  const node = [process.execPath, "--import", "tsx", openScript, directory]
  const [command, ...args] = isRoot && options.asAnotherUser
    ? [...withoutOverride, ...node]
    : node
  const result = spawnSync(command, args, {
    cwd: packageDirectory,
    env: { ...process.env, ...options.env },
    encoding: "utf8",
    timeout: 60_000
  })
  assert.strictEqual(result.status, 0, `the open script failed: ${result.error ?? ""}${result.stderr}`)
  return JSON.parse(result.stdout.trim().split("\n").at(-1)!) as Opened
}

/** A store directory under a fresh directory of the system's temporary directory. */
const storeDirectory = () => {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-open-"))
  fs.chmodSync(parent, 0o755)
  return { parent, directory: path.join(parent, "state") }
}

/** Runs one epoch in `directory` as this process's user, leaving a store with a committed epoch. */
const seed = (directory: string) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const store = yield* RecoveryStore.RecoveryStore
      const worker = yield* store.open({ dataflowId: "open", workerIndex: 0, workerCount: 1 })
      yield* worker.transaction(
        worker.resumeEpoch,
        (transaction) => Effect.sync(() => transaction.write("count", "a", "1"))
      )
    }).pipe(Effect.scoped, Effect.provide(SqliteRecovery.layer({ directory })))
  )

describe("SqliteRecovery open", () => {
  it.skipIf(!permissionsTestable)("fails at open, naming the file, when a store file is read-only", async () => {
    const { directory, parent } = storeDirectory()
    try {
      await seed(directory)
      const file = path.join(directory, "worker-0.sqlite3")
      assert.deepStrictEqual(openInChild(directory, { asAnotherUser: true }), { opened: true })

      fs.chmodSync(file, 0o444)
      const opened = openInChild(directory, { asAnotherUser: true })
      assert.strictEqual(opened.tag, "StoreUnavailable")
      assert.strictEqual(opened.store, file)
      assert.include(opened.message, "not writable by this user")
      assert.include(opened.message, "chmod u+w")
    } finally {
      fs.rmSync(parent, { recursive: true, force: true })
    }
  })

  it.skipIf(!permissionsTestable)(
    "fails at open, naming the directory, when the store directory is read-only",
    async () => {
      const { directory, parent } = storeDirectory()
      try {
        await seed(directory)
        fs.chmodSync(directory, 0o555)
        const opened = openInChild(directory, { asAnotherUser: true })
        assert.strictEqual(opened.tag, "StoreUnavailable")
        assert.strictEqual(opened.store, directory)
        assert.include(opened.message, "the store directory is not writable")
      } finally {
        fs.chmodSync(directory, 0o755)
        fs.rmSync(parent, { recursive: true, force: true })
      }
    }
  )

  it("says to rebuild better-sqlite3 when its binary was built for another Node", () => {
    const { directory, parent } = storeDirectory()
    try {
      // A binary built for the Node before this one, as when node_modules was installed under another Node.
      const other = Number(process.versions.modules) - 1
      const addon = path.join(parent, "other-node.node")
      execFileSync("cc", [
        "-shared",
        "-fPIC",
        `-DOTHER_NODE_MODULE_VERSION=${other}`,
        "-o",
        addon,
        path.join(packageDirectory, "test", "fixtures", "otherNodeAddon.c")
      ])
      const opened = openInChild(directory, { asAnotherUser: false, env: { SLUICE_TEST_NATIVE_ADDON: addon } })
      assert.strictEqual(opened.tag, "StoreUnavailable", JSON.stringify(opened))
      assert.strictEqual(opened.store, path.join(directory, "worker-0.sqlite3"))
      assert.include(opened.message, "rebuild better-sqlite3 for this Node")
      assert.include(opened.message, "npm rebuild better-sqlite3")
      assert.include(opened.message, `module version ${other}`)
      assert.notInclude(opened.message, "writable")
    } finally {
      fs.rmSync(parent, { recursive: true, force: true })
    }
  })
})
