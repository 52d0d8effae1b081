"""Results of a chaos run and their Markdown / JSON renderings (pure, unit-tested)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

COUNT_KEYS = ("sent", "executed", "duplicated", "lost")


@dataclass
class Check:
    what: str
    ok: bool
    detail: str = ""


@dataclass
class Result:
    number: int
    title: str
    counts: dict[str, int] | None = None  # Counts.as_dict() when the scenario counts tasks
    recovery: dict[str, float] = field(default_factory=dict)  # name -> seconds
    checks: list[Check] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # context: victim, thresholds, ...
    seconds: float = 0.0
    error: str | None = None

    def check(self, what: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(what, bool(ok), detail))
        return bool(ok)

    @property
    def passed(self) -> bool:
        lost = (self.counts or {}).get("lost", 0)
        return self.error is None and bool(self.checks) and lost == 0 and all(
            c.ok for c in self.checks)


@dataclass
class Run:
    mode: str
    project: str
    started: str  # ISO time
    results: list[Result] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _recovery(recovery: dict[str, float]) -> str:
    if not recovery:
        return "-"
    return "; ".join(f"{name.replace('_', ' ')} {_seconds(v)}" for name, v in recovery.items())


def to_json(run: Run) -> str:
    data = {
        "mode": run.mode, "project": run.project, "started": run.started,
        "seconds": round(run.seconds, 1), "passed": run.passed,
        "scenarios": [{**asdict(r), "passed": r.passed,
                       "recovery": {k: round(v, 1) for k, v in r.recovery.items()},
                       "seconds": round(r.seconds, 1)} for r in run.results],
    }
    return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"


def to_markdown(run: Run) -> str:
    verdict = "PASSED" if run.passed else "FAILED"
    lines = [
        f"# Chaos report ({run.mode}): {verdict}",
        "",
        f"Stack: compose project `{run.project}`, started {run.started}, "
        f"wall time {_seconds(run.seconds)}.",
        "",
        "| # | Scenario | Result | Sent | Executed | Duplicated | Lost | Recovery | Took |",
        "|---|----------|--------|-----:|---------:|-----------:|-----:|----------|-----:|",
    ]
    for r in run.results:
        counts = [str((r.counts or {}).get(k, "-")) for k in COUNT_KEYS]
        lines.append(f"| {r.number} | {r.title} | {'pass' if r.passed else 'FAIL'} | "
                     f"{' | '.join(counts)} | {_recovery(r.recovery)} | {_seconds(r.seconds)} |")
    for r in run.results:
        lines += ["", f"## {r.number}. {r.title}: {'pass' if r.passed else 'FAIL'}", ""]
        for name, value in r.facts.items():
            lines.append(f"- {name.replace('_', ' ')}: {value}")
        if r.counts:
            extra = {k: v for k, v in r.counts.items() if k not in COUNT_KEYS}
            if extra:
                lines.append("- " + ", ".join(f"{k.replace('_', ' ')}: {v}"
                                              for k, v in extra.items()))
        for c in r.checks:
            lines.append(f"- [{'x' if c.ok else ' '}] {c.what}"
                         + (f" ({c.detail})" if c.detail else ""))
        if r.error:
            lines += ["", "```", r.error.strip(), "```"]
    return "\n".join(lines) + "\n"


def failures(run: Run) -> list[str]:
    """One line per reason a scenario failed: printed last, so a log's tail names it."""
    lines: list[str] = []
    for r in run.results:
        if r.passed:
            continue
        head = f"scenario {r.number} ({r.title})"
        lost = (r.counts or {}).get("lost", 0)
        if lost:
            lines.append(f"{head}: {lost} task(s) lost")
        lines += [f"{head}: check failed: {c.what}" + (f" ({c.detail})" if c.detail else "")
                  for c in r.checks if not c.ok]
        if r.error:
            last = r.error.strip().splitlines()[-1]
            lines.append(f"{head}: crashed: {last}")
        if not r.checks and not r.error:
            lines.append(f"{head}: made no check")
    return lines
