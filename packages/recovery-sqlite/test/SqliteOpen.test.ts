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
const nobody = { uid: 65534, gid: 65534 }
const asNobody = ["setpriv", `--reuid=${nobody.uid}`, `--regid=${nobody.gid}`, "--clear-groups"]

/**
 * Root meets no permission, so the permission cases run their child as
 * `nobody`, who must be able to read this checkout: not so under a private
 * home directory (a clone in /root), where they cannot run at all.
 */
const permissionsTestable = !isRoot ||
  spawnSync(asNobody[0], [...asNobody.slice(1), "test", "-r", openScript]).status === 0

interface Opened {
  readonly opened?: true
  readonly tag?: string
  readonly store?: string
  readonly message?: string
  readonly defect?: string
}

/**
 * Opens the store in `directory` in a child process; with `asAnotherUser`, as
 * `nobody` when this process is root: root writes read-only files, so only
 * another user meets the permissions a user without them meets.
 */
const openInChild = (
  directory: string,
  options: { readonly asAnotherUser: boolean; readonly env?: Record<string, string> }
): Opened => {
  const node = [process.execPath, "--import", "tsx", openScript, directory]
  const [command, ...args] = isRoot && options.asAnotherUser
    ? [...asNobody, ...node]
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

/** A store directory the other user can reach: under a fresh directory of the system's temporary directory. */
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
        (transaction) => Effect.sync(() => transaction.write("count", "a", new TextEncoder().encode("1")))
      )
    }).pipe(Effect.scoped, Effect.provide(SqliteRecovery.layer({ directory })))
  )

const chownTree = (directory: string, owner: { uid: number; gid: number }) => {
  fs.chownSync(directory, owner.uid, owner.gid)
  for (const name of fs.readdirSync(directory)) fs.chownSync(path.join(directory, name), owner.uid, owner.gid)
}

describe("SqliteRecovery open", () => {
  it.skipIf(!permissionsTestable)("fails at open, naming the file, when a store file is read-only", async () => {
    const { directory, parent } = storeDirectory()
    try {
      await seed(directory)
      const file = path.join(directory, "worker-0.sqlite3")
      if (isRoot) chownTree(directory, nobody) // the other user owns the store: it may write it
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
        if (isRoot) chownTree(directory, nobody)
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
