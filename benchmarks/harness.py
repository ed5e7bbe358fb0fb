"""The dispatch benchmark's harness: one run, alternating rounds, a table per transport, one plot.

    ./dev bench                                      # pulsar, http, kafka and amqp, one after another
    ./dev bench --transport http --transport kafka   # some of them
    ./dev bench --events 5000 --rounds 3 --concurrency 1,64 --plot -   # shorter, no plot

A transport takes part by adding a module ``benchmarks/<transport>_dispatch.py`` that defines

    @contextlib.asynccontextmanager
    async def bench(options: argparse.Namespace) -> AsyncIterator[harness.Transport]:
        ...start its server (or read its address from the environment), yield a Transport, stop it

and by listing ``"<transport>"`` in ``TRANSPORTS`` below. A ``Transport`` gives the harness
three ways to send the same messages:

    rendered()          the rendered connector, a NEW instance per dispatch as Tracardi builds
                        it: an ``async (number) -> None`` that returns once the server has it
    closed_loop()       the raw client library, awaiting each message's own acknowledgement,
                        the like-for-like peer: the harness runs it with as many awaited
                        messages in flight as the rendered connector has dispatches
    open_loop(events)   awaited: the raw client library sending ``events`` messages as fast as
                        it can, waiting once for them all (one callback on the last, one flush,
                        one gather): the ceiling. Returns an ``OpenLoop``

and, optionally, ``others``: a dict of more scenarios by name, each a factory like
``rendered`` (HTTP's is Tracardi's own http_connector, a session per dispatch). Each is timed
at every concurrency once a round, with a quarter of the messages (at least 100), and shown
as rows of its own with its ratio to the closed loop.

Each factory is called once per timed run; it may reuse what it made before (the Pulsar and
Kafka rows reuse one topic and producer per scenario, so that RSS shows growth per message, not
per producer); the harness calls the returned dispatch once with number -1 before timing, so
connecting is not timed. Message ``number`` tells which of 500 profiles it is for
(``number % 500``). Examples are imported from one stand-in Tracardi checkout
(``example_checkout``), so that every transport's modules import side by side in one process.

For each round and each concurrency (1, 64, 256, 1000) the harness times the rendered
connector and the closed loop, the rendered one first in odd rounds and the closed loop first
in even ones (so that a drift in the machine's load favours neither), then each of the others;
then the open loop once. At concurrency 1 a run is ``--events-at-1`` messages, since each
waits for the server. The table shows each scenario's median round; the ratios round by round
divide the two runs of one round, which ran one after the other, and are what to read on a
shared machine. The harness measures msg/s, latency p50/p99 (send to acknowledgement, per
dispatch), the event-loop thread's CPU microseconds per message (``time.thread_time``, which
includes the client library's work done on that thread), RSS before and after each run, and
the lag of a 1 ms ticker while the rendered connector, then the raw closed loop, dispatches a
paced 500 a second, beside the ticker with no dispatches at all. It prints a Markdown section
per transport as soon as that transport is done, and draws throughput against concurrency, a
panel per transport, into ``--plot`` (benchmark.png).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import gc
import importlib
import os
import platform
import resource
import shutil
import signal
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from statistics import median, quantiles
from typing import Protocol

REPO_ROOT = Path(__file__).resolve().parents[1]
TRANSPORTS = ["pulsar", "http", "kafka", "amqp"]
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
    # Optional: more scenarios by name, each a factory like rendered(); read with others_of().

    def rendered(self) -> Dispatch: ...

    def closed_loop(self) -> Dispatch: ...

    async def open_loop(self, events: int) -> OpenLoop: ...


def others_of(transport: Transport) -> dict[str, Callable[[], Dispatch]]:
    others: dict[str, Callable[[], Dispatch]] = getattr(transport, "others", {})
    return others


_checkout: Path | None = None
_copied: set[str] = set()


def example_checkout(example: str) -> Path:
    """The process's stand-in Tracardi checkout, on sys.path, with the committed example
    generated_examples/<example> copied in; made on first use and removed at exit.

    One checkout for every transport: the examples' files have distinct names (the shared
    runtime's are the same bytes in each), and the ``tracardi`` package can be imported from
    one place only.
    """
    global _checkout
    for helpers in ("scripts", "tests"):
        if str(REPO_ROOT / helpers) not in sys.path:
            sys.path.insert(0, str(REPO_ROOT / helpers))
    from rendering import IGNORED, make_checkout

    if _checkout is None:
        workdir = Path(tempfile.mkdtemp(prefix="dispatch-bench-"))
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
        _checkout = make_checkout(workdir / "checkout")
        sys.path.insert(0, str(_checkout))
    if example not in _copied:
        shutil.copytree(
            REPO_ROOT / "generated_examples" / example,
            _checkout,
            dirs_exist_ok=True,
            ignore=IGNORED,
        )
        _copied.add(example)
        importlib.invalidate_caches()
    return _checkout


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
    # Each other scenario's runs by name, then concurrency.
    others: dict[str, dict[int, list[Run]]] = field(default_factory=dict)
    open_loop: list[Run] = field(default_factory=list)
    # The ticker's lag: with the rendered connector, with the raw closed loop, and with no
    # dispatches at all (what the machine itself costs).
    lags: dict[str, list[float]] = field(default_factory=dict)
    lag_events: int = 0
    load_at_end: str = ""


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


async def measure(transport: Transport, options: argparse.Namespace) -> Results:
    results = Results(transport)
    others = others_of(transport)
    for round_number in range(options.rounds):
        for concurrency in options.concurrency:
            events = options.events_at_1 if concurrency == 1 else options.events
            pair = [
                (transport.rendered, results.rendered),
                (transport.closed_loop, results.closed_loop),
            ]
            # The rendered connector first in rounds 1, 3, ..., the closed loop in rounds 2, 4, ...
            for scenario, runs in pair if round_number % 2 == 0 else pair[::-1]:
                run = await dispatch_concurrently(events, concurrency, scenario())
                runs.setdefault(concurrency, []).append(run)
            for name, other in others.items():
                run = await dispatch_concurrently(max(events // 4, 100), concurrency, other())
                results.others.setdefault(name, {}).setdefault(concurrency, []).append(run)
        gc.collect()
        ceiling = await transport.open_loop(options.events)
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
    results.load_at_end = load_average()
    return results


def round_ratios(mine: dict[int, list[Run]], theirs: dict[int, list[Run]]) -> str:
    """Each concurrency's ratios of the runs of one round: their median, then each round's."""
    parts = []
    for concurrency in sorted(mine):
        ratios = [
            ours.rate / peer.rate
            for ours, peer in zip(mine[concurrency], theirs[concurrency], strict=True)
        ]
        each = ", ".join(f"{ratio:.2f}" for ratio in ratios)
        parts.append(f"x{concurrency}: {median(ratios):.2f} ({each})")
    return "; ".join(parts)


def report(results: Results) -> list[str]:
    transport = results.transport
    ceiling = median_run(results.open_loop)
    lines = [
        f"### {transport.name}: {transport.server}, {transport.versions}",
        "",
        f"Load average at its end: {results.load_at_end}.",
        "",
        "| scenario | concurrency | msg/s | p50 ms | p99 ms | loop CPU µs/msg | RSS change MB "
        "| of closed loop | of open loop |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| raw, open loop, all sent at once (ceiling) | - | {ceiling.rate:,.0f} | - | - "
        f"| {ceiling.cpu_us_per_message:.1f} | - | - | 1.00 |",
    ]
    for concurrency in sorted(results.rendered):
        peer = median_run(results.closed_loop[concurrency])
        rows = [
            ("raw, closed loop, awaited", peer),
            ("rendered connector", median_run(results.rendered[concurrency])),
        ]
        rows += [(name, median_run(runs[concurrency])) for name, runs in results.others.items()]
        for name, run in rows:
            lines.append(
                f"| {name} | {concurrency} | {run.rate:,.0f} | {run.percentile(50):.2f} "
                f"| {run.percentile(99):.2f} | {run.cpu_us_per_message:.1f} "
                f"| {run.rss_change_mb:+.1f} | {run.rate / peer.rate:.2f} "
                f"| {run.rate / ceiling.rate:.2f} |"
            )
    open_rates = ", ".join(f"{run.rate:,.0f}" for run in results.open_loop)
    lines += [
        "",
        "Rendered / closed loop, round by round (median, then each round; the rendered connector "
        f"ran first in rounds 1, 3, ...): {round_ratios(results.rendered, results.closed_loop)}.",
    ]
    for name, runs in results.others.items():
        ratios = round_ratios(runs, results.closed_loop)
        lines.append(f"{name} / closed loop, round by round: {ratios}.")
    lines += [
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

    panels = len(all_results)
    figure, axes_row = pyplot.subplots(
        1, panels, figsize=(4.8 * panels + 0.6, 5.6), dpi=110, squeeze=False
    )
    for axes, results in zip(axes_row[0], all_results, strict=True):
        transport = results.transport
        concurrencies = sorted(results.rendered)
        lines = [
            (results.rendered, "-o", "C0", "rendered connector"),
            (results.closed_loop, "--s", "C1", "raw, closed loop (awaited)"),
        ]
        for number, (name, runs) in enumerate(results.others.items()):
            lines.append((runs, "-.^", f"C{number + 3}", name))
        highest = ceiling = median_run(results.open_loop).rate
        for runs, style, colour, label in lines:
            rates = [median_run(runs[concurrency]).rate for concurrency in concurrencies]
            highest = max(highest, *rates)
            axes.plot(concurrencies, rates, style, color=colour, label=label)
        axes.axhline(ceiling, color="C2", linestyle=":", label="raw, open loop (ceiling)")
        axes.set_xscale("log")
        axes.set_xticks(concurrencies, [str(concurrency) for concurrency in concurrencies])
        axes.minorticks_off()
        axes.set_xlabel("concurrent dispatches (messages in flight)", fontsize=8)
        axes.set_ylim(bottom=0, top=highest * 1.08)
        axes.set_title(
            textwrap.fill(f"{transport.name}: {transport.server}, {transport.versions}", 52),
            fontsize=9,
        )
        axes.tick_params(labelsize=8)
        axes.grid(True, alpha=0.3)
        # Below the panel, where it hides no line.
        axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False)
    axes_row[0][0].set_ylabel("messages per second (median round)", fontsize=8)
    figure.suptitle(textwrap.fill(title, 62 * panels + 30), fontsize=8)
    figure.tight_layout()
    figure.savefig(path)


def options_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--events", type=int, default=5_000, help="messages a timed run")
    parser.add_argument(
        "--events-at-1", type=int, default=2_000, help="messages a timed run at concurrency 1"
    )
    parser.add_argument("--rounds", type=int, default=11, help="rounds of every scenario")
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(part) for part in text.split(",")],
        default=list(CONCURRENCIES),
        help="comma-separated, default 1,64,256,1000",
    )
    parser.add_argument("--lag-seconds", type=int, default=10, help="length of the paced run")
    parser.add_argument(
        "--transport",
        action="append",
        choices=TRANSPORTS,
        help="run this transport (repeatable); default all, in this order: "
        + ", ".join(TRANSPORTS),
    )
    parser.add_argument(
        "--plot",
        type=Path,
        default=REPO_ROOT / "benchmark.png",
        help="where to draw (default benchmark.png); '-' for none",
    )
    return parser


async def main_async(options: argparse.Namespace) -> None:
    # SIGTERM unwinds like Ctrl-C, so that every transport stops what it started.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    heading = (
        f"Dispatch benchmark, {date.today()}, {platform.node()}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {options.events:,} messages a run "
        f"({options.events_at_1:,} at concurrency 1), {options.rounds} rounds"
    )
    print(heading, flush=True)
    all_results = []
    for name in options.transport or TRANSPORTS:
        module = importlib.import_module(f"{name}_dispatch")
        bench: Callable[[argparse.Namespace], contextlib.AbstractAsyncContextManager[Transport]]
        bench = module.bench
        async with bench(options) as transport:
            results = await measure(transport, options)
        all_results.append(results)
        print()
        print("\n".join(report(results)), flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = load_average()
    print()
    print(f"Peak RSS of the benchmark process: {peak:.1f} MB. Load average at the end: {load}.")
    if str(options.plot) != "-":
        servers = "; ".join(f"{r.transport.name}: {r.transport.server}" for r in all_results)
        plot(all_results, options.plot, f"{heading}, load average at the end {load}. {servers}")
        print(f"Plot: {options.plot}")


def main(transports: list[str] | None = None) -> None:
    """Run the benchmark; `transports` is the default for --transport (a module run directly)."""
    # The transport modules import this file as `harness`; run as a script, it is `__main__`.
    sys.modules.setdefault("harness", sys.modules[__name__])
    options = options_parser(__doc__.splitlines()[0]).parse_args()
    if transports and not options.transport:
        options.transport = transports
    try:
        asyncio.run(main_async(options))
    except (KeyboardInterrupt, asyncio.CancelledError):
        # Every transport's servers and brokers were stopped on the way out.
        print("Interrupted.", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
