"""The dispatch benchmark's harness: one run, alternating rounds, one table, one plot.

A transport takes part by adding a module ``benchmarks/<transport>_dispatch.py`` that defines

    @contextlib.asynccontextmanager
    async def bench(options: argparse.Namespace) -> AsyncIterator[harness.Transport]:
        ...start its server (or read its URL from the environment), yield a Transport, stop it

and by listing ``"<transport>"`` in ``TRANSPORTS`` below. A ``Transport`` gives the harness
three ways to send the same messages:

    rendered()          the rendered connector, a NEW instance per dispatch as Tracardi builds
                        it: an ``async (number) -> None`` that returns once the server has it
    closed_loop()       the raw client library, awaiting each message's own acknowledgement,
                        the like-for-like peer: the harness runs it with as many awaited
                        messages in flight as the rendered connector has dispatches
    open_loop(events)   the raw client library sending ``events`` messages as fast as it can,
                        waiting once for the last (one callback, or one flush): the ceiling.
                        Runs on the event loop's thread; returns an ``OpenLoop``

Each factory is called once per timed run; it may reuse what it made before (the Pulsar rows
reuse one topic and producer, so that RSS shows growth per message, not per producer);
the harness calls the returned dispatch once with number -1 before timing, so connecting is
not timed. Message ``number`` tells which of 500 profiles it is for (``number % 500``).

``./dev bench`` (``python benchmarks/harness.py``) runs every listed transport, or ``--transport
pulsar`` only. For each round and each concurrency (1, 64, 256, 1000) it times the rendered
connector and the closed loop, then the open loop once; the table shows each one's median
round (at concurrency 1, ``--events-at-1`` messages a run, since each waits for the
server). The harness measures msg/s, latency p50/p99 (send to acknowledgement, per dispatch),
the event-loop thread's CPU microseconds per message (``time.thread_time``, which includes
the client library's work done on that thread), RSS before and after each rendered run, and
the lag of a 1 ms ticker while the rendered connector dispatches a paced 500 a second. It
prints Markdown and draws throughput against concurrency into ``--plot`` (benchmark.png).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import os
import platform
import resource
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from statistics import median, quantiles
from typing import Protocol

REPO_ROOT = Path(__file__).resolve().parents[1]
TRANSPORTS = ["pulsar"]
CONCURRENCIES = (1, 64, 256, 1000)
PROFILES = 500

Dispatch = Callable[[int], Awaitable[None]]


@dataclass
class OpenLoop:
    """What the open loop measured: wall time and the sending thread's CPU."""

    seconds: float
    cpu_seconds: float


class Transport(Protocol):
    name: str  # "pulsar", shown in the table and the plot
    server: str  # what it ran against, e.g. "pulsar-lite 0.2.0 (embedded)"
    versions: str  # the client library, e.g. "pulsar-client 3.13.0"

    def rendered(self) -> Dispatch: ...

    def closed_loop(self) -> Dispatch: ...

    def open_loop(self, events: int) -> OpenLoop: ...


@dataclass
class Run:
    """One timed run."""

    events: int
    seconds: float
    cpu_seconds: float
    latencies: list[float] = field(default_factory=list)
    rss_change_mb: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def cpu_us_per_message(self) -> float:
        return self.cpu_seconds / self.events * 1e6

    def percentile(self, share: int) -> float:
        if len(self.latencies) < 2:
            return float("nan")
        return quantiles(self.latencies, n=100, method="inclusive")[share - 1] * 1000


def median_run(runs: Sequence[Run]) -> Run:
    return sorted(runs, key=lambda run: run.rate)[(len(runs) - 1) // 2]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def dispatch_concurrently(events: int, concurrency: int, dispatch: Dispatch) -> Run:
    """`events` dispatches by `concurrency` workers, each awaiting its dispatch."""
    await dispatch(-1)
    gc.collect()
    latencies: list[float] = []
    numbers = iter(range(events))

    async def worker() -> None:
        for number in numbers:
            started = time.perf_counter()
            await dispatch(number)
            latencies.append(time.perf_counter() - started)

    rss_before = rss_mb()
    cpu_started, started = time.thread_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds, cpu_seconds = time.perf_counter() - started, time.thread_time() - cpu_started
    # What is still referenced after the run, not garbage the collector has not reached yet.
    gc.collect()
    return Run(events, seconds, cpu_seconds, latencies, rss_mb() - rss_before)


async def loop_lag(dispatch: Dispatch, events: int, rate: int) -> list[float]:
    """Lateness of a 1 ms ticker while `events` dispatches run at `rate` a second."""
    await dispatch(-1)
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - started - 0.001)

    async def paced() -> None:
        tasks = []
        started = time.perf_counter()
        for number in range(events):
            await asyncio.sleep(max(0.0, started + number / rate - time.perf_counter()))
            tasks.append(asyncio.ensure_future(dispatch(number)))
        await asyncio.gather(*tasks)
        stop.set()

    await asyncio.gather(ticker(), paced())
    return lags


@dataclass
class Results:
    """Every run of one transport, by scenario and concurrency."""

    transport: Transport
    rendered: dict[int, list[Run]] = field(default_factory=dict)
    closed_loop: dict[int, list[Run]] = field(default_factory=dict)
    open_loop: list[Run] = field(default_factory=list)
    # The ticker's lag: with the rendered connector, with the raw closed loop, and with no
    # dispatches at all (what the machine itself costs).
    lags: dict[str, list[float]] = field(default_factory=dict)
    lag_events: int = 0


async def measure(transport: Transport, options: argparse.Namespace) -> Results:
    results = Results(transport)
    for round_number in range(options.rounds):
        for concurrency in options.concurrency:
            for scenario, runs in (
                (transport.rendered, results.rendered),
                (transport.closed_loop, results.closed_loop),
            ):
                events = options.events_at_1 if concurrency == 1 else options.events
                run = await dispatch_concurrently(events, concurrency, scenario())
                runs.setdefault(concurrency, []).append(run)
        gc.collect()
        ceiling = transport.open_loop(options.events)
        results.open_loop.append(Run(options.events, ceiling.seconds, ceiling.cpu_seconds))
        print(
            f"{transport.name}: round {round_number + 1} of {options.rounds} done", file=sys.stderr
        )
    results.lag_events = options.lag_seconds * 500

    async def nothing(number: int) -> None:
        pass

    for name, dispatch in (
        ("rendered connector", transport.rendered()),
        ("raw, closed loop", transport.closed_loop()),
        ("no dispatches (the machine's own lag)", nothing),
    ):
        results.lags[name] = await loop_lag(dispatch, results.lag_events, 500)
    return results


def report(results: Results) -> list[str]:
    transport = results.transport
    ceiling = median_run(results.open_loop)
    lines = [
        f"### {transport.name}: {transport.server}, {transport.versions}",
        "",
        "| scenario | concurrency | msg/s | p50 ms | p99 ms | loop CPU µs/msg "
        "| of closed loop | of open loop |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| raw, open loop, one callback on the last (ceiling) | - | {ceiling.rate:,.0f} | - | - "
        f"| {ceiling.cpu_us_per_message:.1f} | - | 1.00 |",
    ]
    ratios = []
    for concurrency in sorted(results.rendered):
        peer = median_run(results.closed_loop[concurrency])
        ours = median_run(results.rendered[concurrency])
        for name, run in (("raw, closed loop, awaited", peer), ("rendered connector", ours)):
            lines.append(
                f"| {name} | {concurrency} | {run.rate:,.0f} | {run.percentile(50):.2f} "
                f"| {run.percentile(99):.2f} | {run.cpu_us_per_message:.1f} "
                f"| {run.rate / peer.rate:.2f} | {run.rate / ceiling.rate:.2f} |"
            )
        by_round = [
            f"{mine.rate / theirs.rate:.2f}"
            for mine, theirs in zip(
                results.rendered[concurrency], results.closed_loop[concurrency], strict=True
            )
        ]
        ratios.append(f"x{concurrency}: {', '.join(by_round)}")
    open_rates = ", ".join(f"{run.rate:,.0f}" for run in results.open_loop)
    lines += [
        "",
        f"Rendered / closed loop, round by round: {'; '.join(ratios)}.",
        f"Open loop, round by round: {open_rates} msg/s.",
        "",
        f"| event-loop lag of a 1 ms ticker, dispatching 500/s ({results.lag_events} events) "
        "| p50 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, lags in results.lags.items():
        lag_ms = sorted(lag * 1000 for lag in lags)
        p99 = quantiles(lag_ms, n=100, method="inclusive")[98]
        lines.append(f"| {name} | {median(lag_ms):.2f} | {p99:.2f} | {lag_ms[-1]:.2f} |")
    lines.append("")
    lines.append("RSS change over each rendered run, round by round (MB):")
    for concurrency, runs in sorted(results.rendered.items()):
        changes = ", ".join(f"{run.rss_change_mb:+.1f}" for run in runs)
        lines.append(f"x{concurrency}: {changes}.")
    return lines


def plot(all_results: list[Results], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    figure, axes = pyplot.subplots(figsize=(7.5, 4.5), dpi=110)
    for number, results in enumerate(all_results):
        colour = f"C{number}"
        name = results.transport.name
        concurrencies = sorted(results.rendered)
        for runs, style, label in (
            (results.rendered, "-o", "rendered connector"),
            (results.closed_loop, "--s", "raw, closed loop (awaited)"),
        ):
            rates = [median_run(runs[concurrency]).rate for concurrency in concurrencies]
            axes.plot(concurrencies, rates, style, color=colour, label=f"{name}: {label}")
        ceiling = median_run(results.open_loop).rate
        axes.axhline(
            ceiling, color=colour, linestyle=":", label=f"{name}: raw, open loop (ceiling)"
        )
    axes.set_xscale("log")
    axes.set_xlabel("concurrent dispatches (messages in flight)")
    axes.set_ylabel("messages per second (median round)")
    axes.set_ylim(bottom=0)
    axes.set_title(textwrap.fill(title, 100), fontsize=8)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)


def options_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--events", type=int, default=20_000, help="messages a timed run")
    parser.add_argument(
        "--events-at-1", type=int, default=2_000, help="messages a timed run at concurrency 1"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every scenario")
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(part) for part in text.split(",")],
        default=list(CONCURRENCIES),
        help="comma-separated, default 1,64,256,1000",
    )
    parser.add_argument("--lag-seconds", type=int, default=10, help="length of the paced run")
    parser.add_argument("--transport", action="append", help=f"one of {TRANSPORTS}; default all")
    parser.add_argument(
        "--plot", type=Path, default=REPO_ROOT / "benchmark.png", help="where to draw; '-' for none"
    )
    return parser


async def main_async(options: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    all_results = []
    for name in options.transport or TRANSPORTS:
        module = importlib.import_module(f"{name}_dispatch")
        bench: Callable[[argparse.Namespace], contextlib.AbstractAsyncContextManager[Transport]]
        bench = module.bench
        async with bench(options) as transport:
            all_results.append(await measure(transport, options))
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    heading = (
        f"Dispatch benchmark, {date.today()}, {platform.node()}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {options.events:,} messages a run, "
        f"{options.rounds} rounds, load average at the end {load}"
    )
    print(heading)
    for results in all_results:
        print()
        print("\n".join(report(results)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(f"Peak RSS of the benchmark process: {peak:.1f} MB.")
    if str(options.plot) != "-":
        servers = "; ".join(f"{r.transport.name}: {r.transport.server}" for r in all_results)
        plot(all_results, options.plot, f"{heading}. {servers}")
        print(f"Plot: {options.plot}")


def main(transports: list[str] | None = None) -> None:
    options = options_parser(__doc__.splitlines()[0]).parse_args()
    if transports and not options.transport:
        options.transport = transports
    asyncio.run(main_async(options))


if __name__ == "__main__":
    main()
