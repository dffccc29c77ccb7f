"""The bytewax side of `pnpm bench --peers`.

Runs the same wordcount, windowed and join flows as the Sluice benchmarks on one
bytewax worker with its SQLite recovery, and prints one `@@result` JSON line
in the format of `bench/protocol.ts`.

Epochs: bytewax cuts epochs by system time (`epoch_interval`). With an
interval of zero it starts a new epoch on every activation of the input, and
the input below returns exactly `--epoch-items` items per `next_batch`, so an
epoch holds the same items as `Epoch.everyItems(n)` does in Sluice. (Checked
on bytewax 0.21.1: the recovery `fronts` table ends at the number of batches
plus one or two.)

Written against bytewax 0.21.1: `RecoveryConfig(db_dir)`, `init_db_dir(db_dir,
part_count)` (what `python -m bytewax.recovery db_dir parts` runs),
`cli_main(flow, workers_per_process=1, ...)` (what `python -m bytewax.run`
runs), `bytewax.operators.windowing.fold_window`, `bytewax.operators.join`.

The join reads two inputs: each returns `--epoch-items` items per
`next_batch`, so an epoch holds twice that, and the runner passes half of the
Sluice epoch.
"""

import argparse
import json
import os
import resource
import shutil
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import bytewax.operators as op
from bytewax._bytewax import cli_main
from bytewax.dataflow import Dataflow
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.operators.windowing import EventClock, TumblingWindower, fold_window
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.recovery import RecoveryConfig, init_db_dir

RESULT_MARK = "@@result "
WINDOW = timedelta(seconds=10)
LATENESS = timedelta(seconds=2)
ALIGN_TO = datetime(1970, 1, 1, tzinfo=timezone.utc)


class _ListPartition(StatefulSourcePartition):
    """Reads a list from a position, `batch` items per `next_batch`."""

    def __init__(self, items, batch, position):
        self._items = items
        self._batch = batch
        self._position = position

    def next_batch(self):
        if self._position >= len(self._items):
            raise StopIteration()
        start = self._position
        self._position = min(start + self._batch, len(self._items))
        return self._items[start : self._position]

    def snapshot(self):
        return self._position


class ListSource(FixedPartitionedSource):
    """One resumable partition over an in-memory list, like `Input.fromIterable`."""

    def __init__(self, items, batch):
        self._items = items
        self._batch = batch

    def list_parts(self):
        return ["0"]

    def build_part(self, step_id, for_part, resume_state):
        return _ListPartition(self._items, self._batch, resume_state or 0)


class _CountingPartition(StatelessSinkPartition):
    def __init__(self, counter):
        self._counter = counter

    def write_batch(self, items):
        self._counter[0] += len(items)


class CountingSink(DynamicSink):
    """Counts the items it receives, like the Sluice benchmarks' output."""

    def __init__(self, counter):
        self._counter = counter

    def build(self, step_id, worker_index, worker_count):
        return _CountingPartition(self._counter)


def _count(count, _word):
    count = 1 if count is None else count + 1
    return (count, count)


def wordcount_flow(lines, epoch_items, counter):
    flow = Dataflow("wordcount")
    lines = op.input("lines", flow, ListSource(lines, epoch_items))
    words = op.flat_map("split", lines, lambda line: line.split(" "))
    keyed = op.key_on("key", words, lambda word: word)
    counts = op.stateful_map("count", keyed, _count)
    op.output("out", counts, CountingSink(counter))
    return flow


_FIXED_NOW = datetime(2000, 1, 1, tzinfo=timezone.utc)


def windowed_flow(events, epoch_items, counter):
    flow = Dataflow("windowed")
    events = op.input("events", flow, ListSource(events, epoch_items))
    keyed = op.key_on("user", events, lambda event: event[0])
    # A fixed "now" keeps the watermark at (largest timestamp - lateness), as
    # Sluice's event clock has it, instead of drifting with the wall clock.
    clock = EventClock(
        ts_getter=lambda event: event[1],
        wait_for_system_duration=LATENESS,
        now_getter=lambda: _FIXED_NOW,
        to_system_utc=lambda _ts: None,
    )
    windower = TumblingWindower(length=WINDOW, align_to=ALIGN_TO)
    sums = fold_window(
        "sum",
        keyed,
        clock,
        windower,
        builder=lambda: 0,
        folder=lambda total, event: total + event[2],
        merger=lambda a, b: a + b,
    )
    op.output("out", sums.down, CountingSink(counter))
    return flow


def join_flow(rows, epoch_items, counter):
    orders, payments = rows
    flow = Dataflow("join")
    keyed_orders = op.key_on(
        "order-id", op.input("orders", flow, ListSource(orders, epoch_items)), lambda order: order[0]
    )
    keyed_payments = op.key_on(
        "payment-order", op.input("payments", flow, ListSource(payments, epoch_items)), lambda payment: payment[0]
    )
    joined = op.join("paid", keyed_orders, keyed_payments)
    op.output("out", joined, CountingSink(counter))
    return flow


def read_orders_and_payments(path):
    orders = []
    payments = []
    with open(path, encoding="utf-8") as file:
        for row in file:
            side, key, value = row.rstrip("\n").split(",")
            (orders if side == "o" else payments).append((key, int(value)))
    return orders, payments


def read_lines(path):
    with open(path, encoding="utf-8") as file:
        return file.read().splitlines()


def read_events(path):
    events = []
    with open(path, encoding="utf-8") as file:
        for row in file:
            user, ts, value = row.rstrip("\n").split(",")
            at = datetime.fromtimestamp(int(ts) / 1000, tz=timezone.utc)
            events.append((user, at, int(value)))
    return events


def directory_bytes(directory):
    total = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    return total


def fresh_store(directory):
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    init_db_dir(directory, 1)


def peak_rss_bytes():
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=["wordcount", "windowed", "join"])
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--items", required=True, type=int, help="items a run counts (words, events)")
    parser.add_argument("--epoch-items", required=True, type=int, help="input items per epoch")
    parser.add_argument("--expected", required=True, type=int, help="items the output must count")
    parser.add_argument("--db-dir", required=True, type=Path)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=5)
    args = parser.parse_args()

    if args.workload == "wordcount":
        data = read_lines(args.input)
        build = wordcount_flow
    elif args.workload == "join":
        data = read_orders_and_payments(args.input)
        build = join_flow
    else:
        data = read_events(args.input)
        build = windowed_flow

    samples = []
    cold_rss = None
    store_bytes = None
    for run in range(args.warmup + args.iterations):
        fresh_store(args.db_dir)
        counter = [0]
        flow = build(data, args.epoch_items, counter)
        started = time.perf_counter()
        cli_main(
            flow,
            workers_per_process=1,
            epoch_interval=timedelta(0),
            recovery_config=RecoveryConfig(args.db_dir),
        )
        elapsed = time.perf_counter() - started
        if counter[0] != args.expected:
            raise RuntimeError(f"output counted {counter[0]} items, the loop {args.expected}")
        if cold_rss is None:
            cold_rss = peak_rss_bytes()
        store_bytes = directory_bytes(args.db_dir)
        if run >= args.warmup:
            samples.append(elapsed * 1000)

    samples.sort()
    middle = len(samples) // 2
    median_ms = samples[middle] if len(samples) % 2 == 1 else (samples[middle - 1] + samples[middle]) / 2
    return {
        "items": args.items,
        "samplesMs": samples,
        "medianSeconds": median_ms / 1000,
        "itemsPerSecond": args.items / (median_ms / 1000),
        "peakRssBytes": cold_rss,
        "storeBytes": store_bytes,
    }


if __name__ == "__main__":
    try:
        result = main()
    except Exception as error:  # a benchmark reports, it does not fail
        result = {"error": f"{type(error).__name__}: {error}".splitlines()[0]}
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
