/**
 * The dashboard's server: the page and its assets from this package's
 * `dashboard/` folder, the dataflow's graph as JSON, and the run's events as
 * server-sent events. A new page first gets what happened so far, then every
 * event as it happens.
 *
 * @internal
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Dataflow, RunEvents } from "@sluice/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { createServer } from "node:http"
import { fileURLToPath } from "node:url"
import { defaultHost } from "./telemetry.js"

/** Beside `src/` and `dist/` alike, so the sources and the built package serve the same files. */
const assets = new URL("../../dashboard/", import.meta.url)

const assetTypes: Record<string, string> = {
  "dashboard.js": "text/javascript; charset=utf-8",
  "dashboard.css": "text/css; charset=utf-8"
}

/** Epochs a page opened late still sees: about an hour and a half of ten-second epochs. */
const keptEpochs = 512

/** What happened so far: the last start, end and failure, and the latest epochs. */
class RunHistory {
  private readonly marks = new Map<RunEvents.RunEvent["_tag"], RunEvents.RunEvent>()
  private epochs: Array<RunEvents.EpochCommitted> = []

  add(event: RunEvents.RunEvent): void {
    if (event._tag !== "EpochCommitted") {
      if (event._tag === "RunStarted") {
        // a new run in the same process starts a new story
        this.marks.clear()
        this.epochs = []
      }
      this.marks.set(event._tag, event)
      return
    }
    this.epochs.push(event)
    if (this.epochs.length > keptEpochs) this.epochs = this.epochs.slice(-keptEpochs)
  }

  get events(): ReadonlyArray<RunEvents.RunEvent> {
    const started = this.marks.get("RunStarted")
    const ended = [this.marks.get("RunFailed"), this.marks.get("RunFinished")]
    return [...(started === undefined ? [] : [started]), ...this.epochs, ...ended.filter((e) => e !== undefined)]
  }
}

const encoder = new TextEncoder()
const serverSentEvent = (event: RunEvents.RunEvent) => encoder.encode(`data: ${JSON.stringify(event)}\n\n`)

/** @internal */
export const layer = <E>(
  options: { readonly host?: string; readonly port: number; readonly dataflow: Dataflow.Dataflow },
  failed: (address: string, reason: string) => E
): Layer.Layer<RunEvents.RunEvents, E> => {
  const host = options.host ?? defaultHost
  const graph = Dataflow.describe(options.dataflow)
  const server = Layer.unwrapScoped(Effect.gen(function*() {
    const hub = yield* RunEvents.RunEvents
    const history = new RunHistory()
    const recorded = yield* PubSub.subscribe(hub)
    yield* Effect.forkScoped(Effect.forever(Effect.map(Queue.take(recorded), (event) => history.add(event))))

    const events = Stream.unwrapScoped(Effect.map(PubSub.subscribe(hub), (live) =>
      // subscribed before the history is read: an event may come twice, never not at all; the page skips repeats
      Stream.concat(Stream.fromIterable(history.events), Stream.fromQueue(live)).pipe(Stream.map(serverSentEvent))))

    const asset = (name: string, contentType: string) =>
      HttpServerResponse.file(fileURLToPath(new URL(name, assets)), { contentType })

    return HttpRouter.empty.pipe(
      HttpRouter.get("/", asset("index.html", "text/html; charset=utf-8")),
      HttpRouter.get(
        "/assets/:name",
        Effect.flatMap(HttpRouter.params, ({ name }) => {
          const contentType = name === undefined ? undefined : assetTypes[name]
          return name === undefined || contentType === undefined
            ? HttpServerResponse.empty({ status: 404 })
            : asset(name, contentType)
        })
      ),
      HttpRouter.get("/graph.json", HttpServerResponse.json(graph)),
      HttpRouter.get(
        "/events",
        Effect.succeed(HttpServerResponse.stream(events, {
          contentType: "text/event-stream",
          headers: { "cache-control": "no-cache" }
        }))
      ),
      HttpServer.serve(),
      Layer.provide(NodeHttpServer.layer(createServer, { host, port: options.port })),
      Layer.mapError((error) => failed(`${host}:${options.port}`, String(error.cause ?? error)))
    )
  }))
  return Layer.provideMerge(server, RunEvents.layer)
}
