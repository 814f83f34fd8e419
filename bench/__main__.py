"""python -m bench [--quick] [--name NAME] [--mongodb-uri URI] [--profile PATH] [sizes]: prints a table and writes
bench/results/<name>.json."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from loguru import logger

from bench import report
from bench.profiling import MISSING, require_profiler
from bench.run import Options, run_bench
from bot.settings import MEMORY_URI


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: under a minute")
    parser.add_argument("--name", help="results file name (default: a timestamp)")
    parser.add_argument("--messages", type=int, help="sequential messages (detection, reply overhead)")
    parser.add_argument("--floor-samples", type=int, help="samples of each floor")
    parser.add_argument("--contacts", type=int, dest="memory_contacts", help="contacts at once in the memory run")
    parser.add_argument("--burst-contacts", type=int)
    parser.add_argument("--burst-messages", type=int)
    parser.add_argument("--memory-messages", type=int)
    parser.add_argument("--model-delay-ms", type=float, help="the fake Gemini's delay (default 0)")
    parser.add_argument(
        "--mongodb-uri", help=f"the store: {MEMORY_URI} (default) or mongodb://...; the run's databases are dropped"
    )
    parser.add_argument("--profile", type=Path, metavar="PATH", help="pyinstrument text report of the sequential "
                        "phase at PATH, HTML beside it (pip install -e .[bench])")  # fmt: skip
    args = vars(parser.parse_args(argv))
    if args["profile"] is not None:
        try:
            require_profiler()
        except RuntimeError:
            parser.error(MISSING)
    quick = args.pop("quick")
    given = {key: value for key, value in args.items() if value is not None}
    return Options.quick(**given) if quick else Options(**given)


def main() -> None:
    options = parse()
    logger.remove()
    logger.add(lambda _: None)  # the daemon's logs would drown the numbers
    result, path = asyncio.run(run_bench(options))
    print(report.table(result))
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
