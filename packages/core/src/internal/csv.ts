import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { InputCsvInvalid } from "../DataflowError.js"
import type { Batch } from "./batch.js"
import { type FileOptions, type FilePosition, openFile } from "./fileInput.js"

/**
 * How a CSV input reads its file. Public as `Input.CsvOptions`.
 */
export interface CsvOptions<A, I extends Readonly<Record<string, string>>> extends FileOptions {
  /** Whether the first record names the fields (default true): records are then objects. */
  readonly header?: boolean
  /** Decodes each record (an object of strings, with a header) into `A`. */
  readonly schema?: Schema.Schema<A, I>
}

/** A CSV input's position: its file's, and the header, which a resumed run does not read again. */
interface CsvPosition {
  readonly file: FilePosition
  readonly header: ReadonlyArray<string> | null
}

/**
 * Opens the records of a CSV file after `resumeFrom`: fields separated by
 * commas, quoted with `"` (a quote inside doubled), quoted fields may hold
 * commas and newlines. Built on the file's lines, so every rule of a file
 * input holds; a record spread over several lines takes the position of its
 * last line, so no position falls inside a record. Blank lines are skipped.
 *
 * @internal
 */
export const openCsvRecords = <A, I extends Readonly<Record<string, string>>>(
  user: string,
  path: string,
  resumeFrom: Option.Option<unknown>,
  options: CsvOptions<A, I>
): Effect.Effect<Stream.Stream<Batch<unknown>, unknown>, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const stored = Option.map(resumeFrom, (p) => p as CsvPosition)
    const { fromStart, lines } = yield* openFile(user, path, Option.map(stored, (p) => p.file), options)
    const wantsHeader = options.header !== false
    // read from the start (a fresh run, or a file started over with onReplaced: "restart"), the header comes first
    let header: ReadonlyArray<string> | null = fromStart || Option.isNone(stored) ? null : stored.value.header
    let headerRead = !wantsHeader || header !== null
    let fields: Array<string> = []
    let field = ""
    let quoted = false
    const decode = options.schema === undefined ? undefined : Schema.decodeUnknownEither(options.schema)
    const record = (row: ReadonlyArray<string>, at: () => number): unknown => {
      if (header === null) return row
      if (row.length !== header.length) {
        throw new InputCsvInvalid({
          path,
          offset: at(),
          problem: `it has ${row.length} fields where the header has ${header.length}`
        })
      }
      const named: Record<string, string> = {}
      for (let i = 0; i < header.length; i++) named[header[i]] = row[i]
      if (decode === undefined) return named
      const decoded = decode(named)
      if (Either.isLeft(decoded)) {
        throw new InputCsvInvalid({
          path,
          offset: at(),
          problem: ParseResult.TreeFormatter.formatErrorSync(decoded.left)
        })
      }
      return decoded.right
    }
    const cut = (batch: Batch<string>): Batch<unknown> => {
      const items: Array<unknown> = []
      const lastLines: Array<number> = []
      const headers: Array<ReadonlyArray<string> | null> = []
      batch.items.forEach((line, index) => {
        if (!quoted && fields.length === 0 && line.length === 0) return
        for (let i = 0; i < line.length; i++) {
          const c = line[i]
          if (quoted) {
            if (c !== "\"") field += c
            else if (line[i + 1] === "\"") {
              field += "\""
              i++
            } else quoted = false
          } else if (c === ",") {
            fields.push(field)
            field = ""
          } else if (c === "\"" && field.length === 0) quoted = true
          else field += c
        }
        if (quoted) {
          // a newline inside a quoted field belongs to the field
          field += "\n"
          return
        }
        fields.push(field)
        const row = fields
        fields = []
        field = ""
        if (!headerRead) {
          header = row
          headerRead = true
          return
        }
        items.push(record(row, () => (batch.positionAfter(index) as FilePosition).offset))
        lastLines.push(index)
        headers.push(header)
      })
      return {
        items,
        positionAfter: (i) =>
          ({
            file: batch.positionAfter(lastLines[i]) as FilePosition,
            header: headers[i]
          }) satisfies CsvPosition
      }
    }
    return lines.pipe(
      Stream.mapChunksEffect((chunk) =>
        Effect.try({
          try: () => Chunk.filter(Chunk.map(chunk, cut), (batch) => batch.items.length > 0),
          catch: (error) => error
        })
      )
    )
  })
