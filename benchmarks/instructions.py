"""Instructions a dispatch, rendered connector against raw closed loop, counted by valgrind.

    .venv/bin/python benchmarks/instructions.py                    # every transport, 64 in flight
    .venv/bin/python benchmarks/instructions.py --transport http --events 3000
    .venv/bin/python benchmarks/instructions.py --transport pulsar --scenario open_loop

On a shared machine a wall-clock ratio moves by more than the difference it measures
(docs/performance.md); the instructions a process executes for one dispatch hardly move. Each
transport runs in a child process under valgrind's callgrind, through the same bench() the
harness uses: each scenario is warmed up, the counters are zeroed, ``--events`` dispatches run
with ``--concurrency`` in flight, and the counters are dumped. Counted: every thread of the
child (a client library's own threads too); not the servers and brokers, which run in
processes of their own. Not counted: the kernel's time in system calls, and what cache misses
cost, so a connector 10 % above raw in instructions may take 10 to 25 % more CPU time.

``--scenario open_loop`` adds the raw open loop (every message sent at once, waited for once:
the harness's ceiling) as a third column; its count includes making and closing the one
producer that loop uses, a few instructions a message over 2,000 messages.

Needs valgrind (Debian: apt-get install valgrind); a transport takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import harness

SCENARIOS = ("rendered", "closed_loop")
HEADINGS = {
    "rendered": "rendered connector",
    "closed_loop": "raw, closed loop",
    "open_loop": "raw, open loop",
}
WARM_UP = 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", action="append", help=f"one of {harness.TRANSPORTS}")
    parser.add_argument("--events", type=int, default=2000, help="counted dispatches a scenario")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        choices=["open_loop"],
        help="also count this scenario",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        asyncio.run(count_in_child(options))
        return
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind not found (Debian: apt-get install valgrind)")
    print(
        f"Instructions a dispatch ({options.events:,} dispatches, {options.concurrency} in flight,"
        " valgrind callgrind, every thread of the dispatching process)"
    )
    print()
    scenarios = scenarios_of(options)
    raws = scenarios[1:]
    headings = [HEADINGS[scenario] for scenario in scenarios]
    ratios = [f"{HEADINGS[raw].split(', ')[1]} / rendered" for raw in raws]
    print(f"| transport | {' | '.join(headings)} | {' | '.join(ratios)} |")
    print(f"| --- |{' ---: |' * (len(headings) + len(ratios))}")
    for transport in options.transport or harness.TRANSPORTS:
        rendered, *others = count(transport, options)
        counts = " | ".join(f"{value:,.0f}" for value in (rendered, *others))
        shares = " | ".join(f"{value / rendered:.3f}" for value in others)
        print(f"| {transport} | {counts} | {shares} |")


def scenarios_of(options: argparse.Namespace) -> tuple[str, ...]:
    return SCENARIOS + tuple(dict.fromkeys(options.scenario))


def count(transport: str, options: argparse.Namespace) -> list[float]:
    """Run one transport's child under callgrind; instructions a dispatch of each scenario."""
    with tempfile.TemporaryDirectory(prefix="instructions-") as workdir:
        out = Path(workdir) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            f"--child={transport}",
            f"--events={options.events}",
            f"--concurrency={options.concurrency}",
            *(f"--scenario={scenario}" for scenario in options.scenario),
        ]
        # A fixed mmap threshold: glibc's moving one makes the same program take a different
        # path through malloc from one run to the next (an mmap per received buffer, or none).
        environment = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(4 * 1024 * 1024)}
        done = subprocess.run(command, env=environment, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{transport}: the counted child failed:\n{done.stderr[-3000:]}")
        # One dump a scenario, numbered in the order they ran.
        scenarios = scenarios_of(options)
        return [
            summary(Path(f"{out}.{number}")) / options.events
            for number in range(1, len(scenarios) + 1)
        ]


def summary(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise SystemExit(f"no summary line in {dump}")


async def count_in_child(options: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    module = importlib.import_module(f"{options.child}_dispatch")
    async with module.bench(options) as transport:
        for scenario in scenarios_of(options):
            if scenario == "open_loop":
                await transport.open_loop(WARM_UP)
                gc.collect()
                callgrind_control("--zero")
                await transport.open_loop(options.events)
                callgrind_control("--dump")
                continue
            dispatch = getattr(transport, scenario)()
            await run(dispatch, range(-1, WARM_UP), options.concurrency)
            gc.collect()
            callgrind_control("--zero")
            await run(dispatch, range(options.events), options.concurrency)
            callgrind_control("--dump")


async def run(dispatch: harness.Dispatch, numbers: range, concurrency: int) -> None:
    pending = iter(numbers)

    async def worker() -> None:
        for number in pending:
            await dispatch(number)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def callgrind_control(action: str) -> None:
    # Answered by valgrind inside this process before the call returns.
    subprocess.run(
        ["callgrind_control", action, str(os.getpid())], check=True, stdout=subprocess.DEVNULL
    )


if __name__ == "__main__":
    main()
