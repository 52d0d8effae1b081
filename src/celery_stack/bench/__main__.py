"""``python -m celery_stack.bench [--quick] [--out DIR] [--readme FILE]``: run the benchmark."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import charts
from .report import markdown, shape_errors, update_readme
from .run import idle_only, main


def render(out: Path, readme: Path | None) -> int:
    result = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    errors = shape_errors(result)
    for e in errors:
        print(f"bench: {e}", file=sys.stderr)
    if errors:
        return 1
    table = markdown(result)
    (out / "bench.md").write_text(table, encoding="utf-8")
    charts.write(result, out)
    if readme is not None:
        update_readme(readme, table)
    print(table)
    return 0


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m celery_stack.bench")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, one repetition: proves the harness (< 5 minutes)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--readme", type=Path, default=None,
                        help="README whose <!-- bench:begin/end --> block gets the table")
    parser.add_argument("--render", action="store_true",
                        help="only re-render bench.md, the charts and the README block from "
                             "OUT/bench.json (a finished run); measure nothing")
    parser.add_argument("--only", choices=["idle"], default=None,
                        help="idle: figure 4 alone for A and C (full method), written to "
                             "OUT/fig4-idle.json; the report and README are not touched")
    a = parser.parse_args(argv)
    if a.render:
        return render(a.out, a.readme)
    start = time.monotonic()

    def say(text: str) -> None:
        print(f"bench [{time.monotonic() - start:6.0f} s] {text}", flush=True)

    if a.only == "idle":
        figure = idle_only(a.out, say)["overhead"]
        print(json.dumps({k: figure[k] for k in ("ratios", "window_s", "watchdog_period_s")}))
        for name, setup in sorted(figure["setups"].items()):
            rate = setup["messages_per_s"]
            say(f"{name}: {rate['mean']:.2f} messages/s over {rate['window_s']:.0f} s "
                f"(windows {[round(x, 2) for x in rate['samples']]})")
        return 0

    result = main(a.quick, a.out, a.readme, say)
    print((a.out / "bench.md").read_text(encoding="utf-8"))
    errors = shape_errors(result)
    for e in errors:
        print(f"bench: {e}", file=sys.stderr)
    say(f"report written to {a.out} (bench.json, bench.md, fig*.png)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(cli())
