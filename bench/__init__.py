"""The benchmark suite: `python -m bench`. `run_bench(Options(...))` is the same run from Python."""

from bench.run import Options, run_bench

__all__ = ["Options", "run_bench"]
