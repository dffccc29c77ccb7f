import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * A snapshot is the JSON text of the state schema's encoded form (R8).
 *
 * @internal
 */
export interface StateCodec<S> {
  /** The schema's encoded form; throws with a readable message when the state does not encode. */
  readonly toEncoded: (state: S) => unknown
  readonly fromEncoded: (encoded: unknown) => Either.Either<S, string>
}

/** @internal */
export const make = <S, I>(schema: Schema.Schema<S, I>): StateCodec<S> => {
  const encodeEither = Schema.encodeEither(schema)
  const decodeEither = Schema.decodeUnknownEither(schema)
  return {
    toEncoded: (state) => {
      const encoded = encodeEither(state)
      if (Either.isLeft(encoded)) {
        throw new Error(`state does not encode with the step's schema: ${formatIssue(encoded.left)}`)
      }
      return encoded.right
    },
    fromEncoded: (encoded) => Either.mapLeft(decodeEither(encoded), formatIssue)
  }
}

/** @internal */
export const encodeJson = (value: unknown): string => JSON.stringify(value)

/** `JSON.parse` of a snapshot's text; throws on text that is not JSON. @internal */
export const parseJson = (text: string): unknown => JSON.parse(text)

/** @internal */
export const decodeJson = (text: string): Either.Either<unknown, string> => {
  try {
    return Either.right(parseJson(text))
  } catch (error) {
    return Either.left(`snapshot is not JSON: ${(error as Error).message}`)
  }
}

const formatIssue = (error: ParseResult.ParseError): string => ParseResult.TreeFormatter.formatErrorSync(error)

/**
 * A step that emits at end of input (`fold`/`reduce` with `emit: "end"`)
 * snapshots `[encodedState, pending]`, where `pending` says the key changed
 * since it was last emitted (R13). The one reading of that pair, shared by a
 * resume and by `Dataflow.decodeSnapshot`: `undefined` when the JSON is not
 * such a pair (`notAPendingPair` says so).
 *
 * @internal
 */
export const readPendingPair = (json: unknown): readonly [encoded: unknown, pending: boolean] | undefined =>
  Array.isArray(json) && json.length === 2 && typeof json[1] === "boolean" ? [json[0], json[1]] : undefined

/** @internal */
export const notAPendingPair = "snapshot is not a [state, pending] pair of a step that emits at end"
