import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/**
 * The `FileSystem` in context, or a failure that says which layer to provide.
 * Taken from context when a file input or output opens, so that flows without
 * files need no platform layer at all.
 *
 * @internal
 */
export const fileSystemFor = (user: string): Effect.Effect<FileSystem.FileSystem, Error> =>
  Effect.flatMap(Effect.serviceOption(FileSystem.FileSystem), (fs) =>
    Option.isSome(fs)
      ? Effect.succeed(fs.value)
      : Effect.fail(
        new Error(
          `${user} needs a FileSystem: provide NodeContext.layer from @effect/platform-node with the store layer`
        )
      ))
