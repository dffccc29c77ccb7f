/**
 * The Schema coding of what a store records about itself, for stores that
 * keep it as bytes rather than in columns.
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { StoreMeta } from "../../RecoveryStore.js"

/** Public through `StoreKit.ts`. */
export const StoreMetaSchema: Schema.Schema<StoreMeta> = Schema.Struct({
  dataflowId: Schema.String,
  workerCount: Schema.Int.pipe(Schema.positive()),
  schemaVersion: Schema.Int.pipe(Schema.positive()),
  createdAt: Schema.Number
})

/** Public through `StoreKit.ts`. */
export const ProgressSchema = Schema.Struct({ epoch: Schema.NonNegativeInt })

const MetaJson = Schema.parseJson(StoreMetaSchema)
const ProgressJson = Schema.parseJson(ProgressSchema)
const utf8 = new TextEncoder()
const text = new TextDecoder("utf-8", { fatal: true })

const decodeText = (bytes: Uint8Array): Either.Either<string, string> => {
  try {
    return Either.right(text.decode(bytes))
  } catch {
    return Either.left("the bytes are not UTF-8 text")
  }
}

/** Decodes UTF-8 JSON bytes with `decode`; the left side says what does not parse. */
export const decodeWith =
  <A>(decode: (text: string) => Either.Either<A, ParseResult.ParseError>) =>
  (bytes: Uint8Array): Either.Either<A, string> =>
    Either.flatMap(
      decodeText(bytes),
      (decoded) => Either.mapLeft(decode(decoded), (error) => ParseResult.TreeFormatter.formatErrorSync(error))
    )

/** Public through `StoreKit.ts`. */
export const encodeStoreMeta = (meta: StoreMeta): Uint8Array => utf8.encode(Schema.encodeSync(MetaJson)(meta))

/** Public through `StoreKit.ts`. */
export const decodeStoreMeta: (bytes: Uint8Array) => Either.Either<StoreMeta, string> = decodeWith(
  Schema.decodeEither(MetaJson)
)

/** Public through `StoreKit.ts`. */
export const encodeProgress = (epoch: number): Uint8Array => utf8.encode(Schema.encodeSync(ProgressJson)({ epoch }))

/** Public through `StoreKit.ts`. */
export const decodeProgress: (bytes: Uint8Array) => Either.Either<number, string> = (bytes) =>
  Either.map(decodeWith(Schema.decodeEither(ProgressJson))(bytes), ({ epoch }) => epoch)
