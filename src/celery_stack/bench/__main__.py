"""``python -m celery_stack.bench [--quick] [--out DIR] [--readme FILE]``: run the benchmark."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .report import shape_errors
from .run import main


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m celery_stack.bench")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, one repetition: proves the harness (< 5 minutes)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--readme", type=Path, default=None,
                        help="README whose <!-- bench:begin/end --> block gets the table")
    a = parser.parse_args(argv)
    start = time.monotonic()

    def say(text: str) -> None:
        print(f"bench [{time.monotonic() - start:6.0f} s] {text}", flush=True)

    result = main(a.quick, a.out, a.readme, say)
    print((a.out / "bench.md").read_text(encoding="utf-8"))
    errors = shape_errors(result)
    for e in errors:
        print(f"bench: {e}", file=sys.stderr)
    say(f"report written to {a.out} (bench.json, bench.md, fig*.png)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(cli())
