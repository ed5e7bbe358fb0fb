"""Where a Pulsar dispatch's time goes on the event loop's thread (see docs/decisions).

    .venv/bin/python benchmarks/pulsar_profile.py [--events 20000] [--concurrency 1000]

Prints, for the rendered connector and the raw closed loop at one concurrency: the loop
thread's CPU per message, Python calls per message (cProfile, which profiles only the thread
that enables it: the loop's) and the functions with the most own time; then, at concurrency 1,
the latency of a lone message with batching as configured (1 ms) and without batching, which
tells the batch delay from the wait for the broker; and RSS and live Python objects after
each of six rendered runs, which tells growth from what one run needs while it runs.
"""

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
import pulsar_dispatch


async def profiled(name: str, dispatch: harness.Dispatch, events: int, concurrency: int) -> None:
    await dispatch(-1)
    profile = cProfile.Profile()
    numbers = iter(range(events))

    async def worker() -> None:
        for number in numbers:
            await dispatch(number)

    cpu_started, started = time.thread_time(), time.perf_counter()
    profile.enable()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    profile.disable()
    seconds, cpu = time.perf_counter() - started, time.thread_time() - cpu_started
    stats = pstats.Stats(profile)
    calls = sum(row[1] for row in stats.stats.values())  # type: ignore[attr-defined]
    print(f"## {name}, {concurrency} concurrent, {events:,} messages (under cProfile)")
    print(
        f"{events / seconds:,.0f} msg/s profiled; loop thread CPU {cpu / events * 1e6:.1f} µs/msg; "
        f"{calls / events:.1f} Python calls/msg"
    )
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(18)
    lines = text.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    print("\n".join(line[:150] for line in lines[start:] if line.strip()))
    print()


async def awaited_dispatch_floor(events: int, concurrency: int) -> None:
    """An awaited dispatch with no client and no connector: a future per message, the futures
    of a turn resolved together after it, as the rendered producer's acknowledgements are."""
    loop = asyncio.get_running_loop()
    turn: list[asyncio.Future[None]] = []

    def settle() -> None:
        for future in turn:
            future.set_result(None)
        turn.clear()

    async def dispatch(number: int) -> None:
        acknowledged = loop.create_future()
        if not turn:
            loop.call_soon(settle)
        turn.append(acknowledged)
        await acknowledged

    run = await harness.dispatch_concurrently(events, concurrency, dispatch)
    print(f"## The awaited dispatch alone (harness worker, future, turn), {concurrency} concurrent")
    print(f"{run.rate:,.0f} dispatches/s; loop thread CPU {run.cpu_us_per_message:.1f} µs/dispatch")
    print()


async def lone_message_latency(bench: pulsar_dispatch.PulsarBench, events: int) -> None:
    print("## A lone message (1 in flight), raw closed loop: batching as configured against none")
    for batching in (True, False):
        bench.init = {**bench.init, "batching_enabled": batching}
        run = await harness.dispatch_concurrently(events, 1, bench.closed_loop())
        print(
            f"batching {'on, 1 ms delay' if batching else 'off'}: p50 {run.percentile(50):.2f} ms, "
            f"p99 {run.percentile(99):.2f} ms, {run.rate:,.0f} msg/s"
        )
    bench.init = {**bench.init, "batching_enabled": True}


async def memory_over_runs(
    bench: pulsar_dispatch.PulsarBench, events: int, concurrency: int
) -> None:
    """RSS and the number of live Python objects after each of six rendered runs, collected."""
    print(f"## Memory after each of 6 rendered runs of {events:,} at {concurrency} in flight")
    for number in range(6):
        gc.collect()
        objects = len(gc.get_objects())
        await harness.dispatch_concurrently(events, concurrency, bench.rendered())
        gc.collect()
        grown = len(gc.get_objects()) - objects
        print(f"run {number + 1}: RSS {harness.rss_mb():.1f} MB, live objects {grown:+d}")
    print()


async def main_async(options: argparse.Namespace) -> None:
    async with pulsar_dispatch.bench(options) as bench:
        for name, factory in (
            ("rendered connector", bench.rendered),
            ("raw closed loop", bench.closed_loop),
        ):
            await profiled(name, factory(), options.events, options.concurrency)
        await awaited_dispatch_floor(options.events, options.concurrency)
        await memory_over_runs(bench, options.events, options.concurrency)
        await lone_message_latency(bench, 1000)
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=1000)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main_async(parser.parse_args()))
