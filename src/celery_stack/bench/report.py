"""Turn raw measurements into the benchmark report (pure functions).

``build`` takes what the runner measured (the agents' JSON plus host-side
timings) and returns the report: per figure, each setup's median and spread,
the ratios between setups, and each goal met or missed with the reason.
``markdown`` renders the table the README shows; ``shape_errors`` checks a
report has every part (the QUICK test asserts it, never timing thresholds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .stats import growth, percentile, ratio, summary, window_mean

SCHEMA = 1
FIGURES = ("hol", "throughput", "memory", "overhead", "ops")
MIB = 1024 * 1024


def _goal(text: str, value: float | None, threshold: float, higher_is_better: bool,
          why_missed: str) -> dict:
    if value is None:
        return {"text": text, "value": None, "threshold": threshold, "met": None,
                "note": "not measured in this run"}
    met = value >= threshold if higher_is_better else value <= threshold
    return {"text": text, "value": value, "threshold": threshold, "met": met,
            "note": "" if met else why_missed}


def hol(raw: dict[str, dict]) -> dict:
    """Figure 1: small priority tasks behind a bulk backlog, p50/p99 per run."""
    setups = {}
    for name, result in raw.items():
        reps = result["reps"]
        setups[name] = {
            "p50_ms": summary([percentile(r["latencies_ms"], 50) for r in reps]),
            "p99_ms": summary([percentile(r["latencies_ms"], 99) for r in reps]),
            "tasks_per_run": len(reps[0]["latencies_ms"]),
        }
    value = (ratio(setups["A"]["p99_ms"]["median"], setups["C"]["p99_ms"]["median"])
             if {"A", "C"} <= setups.keys() else None)
    return {"unit": "ms", "setups": setups, "ratios": {"A/C p99": value},
            "goals": [_goal("A p99 <= C p99 / 10", value, 0.1, False,
                            "A's priority fleet did not isolate small tasks from the bulk "
                            "backlog enough; see the absolute p99 values")]}


def throughput(raw: dict[str, dict]) -> dict:
    """Figure 2: no-op tasks, first publish -> last execution, tasks/s."""
    setups = {name: {"tasks_per_s": summary([r["tasks_per_s"] for r in res["reps"]]),
                     "publish_per_s": summary([r["publish_per_s"] for r in res["reps"]]),
                     "tasks_per_run": res["reps"][0]["n"],
                     # Runs before concurrent publishers existed had one.
                     "publishers": res["reps"][0].get("publishers", 1)}
              for name, res in raw.items()}

    def rel(a: str, b: str) -> float | None:
        if not {a, b} <= setups.keys():
            return None
        return ratio(setups[a]["tasks_per_s"]["median"], setups[b]["tasks_per_s"]["median"])

    ab, ac = rel("A", "B"), rel("A", "C")

    def pub(name: str) -> str:
        s = setups.get(name)
        return f"{s['publish_per_s']['median']:.0f}/s" if s else "n/a"

    senders = max((s["publishers"] for s in setups.values()), default=1)
    bound = (f"publishing is the limit: each of the {senders} publisher(s) waits for every "
             f"confirm, which needs a majority of 3 nodes behind HAProxy in A (publish rate "
             f"A {pub('A')}, B {pub('B')}, C without confirms {pub('C')})")
    naive = (f"C trades safety for speed: it publishes without confirms (A {pub('A')}, "
             f"C {pub('C')}), its workers acknowledge tasks on receipt, and its one classic "
             "queue lives on one node; A waits for a majority of 3 nodes per publish and "
             "per acknowledgement, sent after execution (acks_late), the price of losing no "
             "task when a node or a worker dies")
    return {"unit": "tasks/s", "setups": setups, "ratios": {"A/B": ab, "A/C": ac},
            "goals": [_goal("A >= 0.8 x B", ab, 0.8, True, bound),
                      _goal("A >= C", ac, 1.0, True, naive)]}


def memory(raw: dict[str, dict]) -> dict:
    """Figure 3: broker memory, idle vs a task/event storm, monitor attached then stalled."""
    setups = {}
    for name, result in raw.items():
        by_phase: dict[str, list[float]] = {}
        for s in result["samples"]:
            by_phase.setdefault(s["phase"], []).append(s["mem_bytes"] / MIB)
        idle = summary(by_phase["idle"])
        storm = by_phase.get("attached", []) + by_phase.get("detached", [])
        setups[name] = {
            "idle_mib": idle,
            "attached_peak_mib": max(by_phase.get("attached", [0])),
            "detached_peak_mib": max(by_phase.get("detached", [0])),
            "end_mib": storm[-1] if storm else None,
            "growth": growth(storm, idle["median"]) if storm else None,
            "event_queue_peak": max(s["event_queue_messages"] for s in result["samples"]),
            "storm_seconds": result["seconds"], "detach_at": result["detach_at"],
            "rate": result["rate"], "sent": result["sent"],
            "series": [[s["t"], s["mem_bytes"] / MIB, s["phase"]] for s in result["samples"]],
        }
    value = setups["A"]["growth"] if "A" in setups else None
    window = setups["A"]["storm_seconds"] if "A" in setups else 0
    return {"unit": "MiB", "setups": setups, "ratios": {
                "A peak/idle": value,
                "C peak/idle": setups["C"]["growth"] if "C" in setups else None},
            "goals": [_goal(f"A flat: peak <= 1.2 x idle over the {window:.0f} s storm",
                            value, 1.2, False,
                            "A's broker memory grew during the storm; see the series")]}


# Figure 4's window must hold every periodic source at least twice: the
# watchdog's once-a-period pass on each worker host is the longest period.
MIN_WATCHDOG_PERIODS = 2


def overhead(raw: dict[str, dict]) -> dict:
    """Figure 4: non-task broker messages/s (received + delivered) on an idle stack.

    The value is the mean over the whole idle window (consecutive windows
    joined: sum of messages / sum of seconds), never a median of short
    windows, which drops the watchdog's pass whenever most windows miss it.
    """
    def rates(res: dict, key: str) -> dict:
        return window_mean([(r["seconds"], r[key]) for r in res["reps"]])

    setups = {name: {"messages_per_s": rates(res, "messages_per_s"),
                     "received_per_s": rates(res, "received_per_s"),
                     "delivered_per_s": rates(res, "delivered_per_s"),
                     "workers": res.get("workers"),
                     "watchdog_period_s": res.get("watchdog_period_s")}
              for name, res in raw.items()}
    both = {"A", "C"} <= setups.keys()
    value = (ratio(setups["A"]["messages_per_s"]["mean"], setups["C"]["messages_per_s"]["mean"])
             if both else None)
    goal = _goal("A <= C / 5", value, 0.2, False,
                 "A still sends worker heartbeat events (every "
                 "monitoring.worker_heartbeat_interval s; Flower needs them to show "
                 "workers online), and each worker host's watchdog asks every "
                 "worker (ping, stats, active) once a period; C has no watchdog")
    period = setups["A"]["watchdog_period_s"] if "A" in setups else None
    window = min(s["messages_per_s"]["window_s"] for s in setups.values()) if setups else 0
    if value is not None and (not period or window < MIN_WATCHDOG_PERIODS * period):
        goal.update(met=None, note=(
            f"idle window {window:.0f} s is shorter than {MIN_WATCHDOG_PERIODS} watchdog "
            f"periods ({MIN_WATCHDOG_PERIODS} x {period or 'unknown'} s): not a result"))
    return {"unit": "messages/s", "setups": setups, "ratios": {"A/C": value},
            "window_s": window, "watchdog_period_s": period, "goals": [goal]}


def ops(raw: dict[str, Any]) -> dict:
    """Figure 5: bring-up times on the bench project, plus files other targets write."""
    rows = {}
    for key in ("make_up_cold_s", "make_up_warm_s"):
        rows[key] = summary(raw[key]) if raw.get(key) else None
    rows["ansible"] = raw.get("ansible") or "not measured in this run"
    rows["make_test"] = raw.get("make_test") or "not measured"
    return {"unit": "s", "setups": {"A": rows}, "ratios": {}, "goals": []}


def build(measured: dict[str, Any], meta: dict[str, Any]) -> dict:
    figures = {
        "hol": hol(measured["hol"]),
        "throughput": throughput(measured["throughput"]),
        "memory": memory(measured["memory"]),
        "overhead": overhead(measured["overhead"]),
        "ops": ops(measured["ops"]),
    }
    goals = [{"figure": f, **g} for f in FIGURES for g in figures[f]["goals"]]
    return {"schema": SCHEMA, **meta, "figures": figures, "goals": goals}


# ---------------------------------------------------------------- markdown
def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, dict) and ("median" in value or "mean" in value):
        center = value["mean"] if "mean" in value else value["median"]
        return f"{center:.{digits}f} ({value['min']:.{digits}f}-{value['max']:.{digits}f})"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) >= 0.01 or value == 0 else f"{value:.2g}"
    return str(value)


def _met(goal: dict) -> str:
    return {True: "met", False: "MISSED", None: "not measured"}[goal["met"]]


def markdown(report: dict) -> str:
    f = report["figures"]
    m = report["machine"]
    lines = [
        f"Run {report['date']} ({report['mode']}, `{report['command']}`, "
        f"{report['duration_s'] / 60:.1f} min). Machine: {m['nproc']} CPUs, "
        f"{m['mem_total_gib']:.1f} GiB RAM, kernel {m['kernel']}, load average at start "
        f"{' / '.join(f'{x:.2f}' for x in m['loadavg_start'])}. Worker budget per setup: "
        f"{report['budget']}. Values: median (min-max) of {report['repetitions']} runs.",
        "",
        "| Figure | A tuned HA | B tuned single | C naive | Ratio | Goal | Result |",
        "|---|---|---|---|---|---|---|",
    ]

    def cell(fig: str, setup: str, key: str) -> str:
        return _fmt(f[fig]["setups"].get(setup, {}).get(key))

    hol_goal, = f["hol"]["goals"]
    for key, label in (("p50_ms", "1. small-task latency p50 (ms)"),
                       ("p99_ms", "1. small-task latency p99 (ms)")):
        last = key == "p99_ms"
        lines.append(f"| {label} | {cell('hol', 'A', key)} | - | {cell('hol', 'C', key)} | "
                     + (f"A/C {_fmt(hol_goal['value'], 3)} | {hol_goal['text']} | "
                        f"{_met(hol_goal)} |" if last else "| | |"))
    tp = f["throughput"]
    g_ab, g_ac = tp["goals"]
    lines.append(f"| 2. no-op throughput (tasks/s) | {cell('throughput', 'A', 'tasks_per_s')} | "
                 f"{cell('throughput', 'B', 'tasks_per_s')} | "
                 f"{cell('throughput', 'C', 'tasks_per_s')} | A/B {_fmt(g_ab['value'], 2)}, "
                 f"A/C {_fmt(g_ac['value'], 2)} | {g_ab['text']}; {g_ac['text']} | "
                 f"{_met(g_ab)}; {_met(g_ac)} |")
    senders = max((s.get("publishers", 1) for s in tp["setups"].values()), default=1)
    lines.append(f"| 2. publish rate, {senders} publisher(s) (tasks/s) | "
                 f"{cell('throughput', 'A', 'publish_per_s')} | "
                 f"{cell('throughput', 'B', 'publish_per_s')} | "
                 f"{cell('throughput', 'C', 'publish_per_s')} | | | |")
    mem = f["memory"]
    g_mem, = mem["goals"]
    for key, label in (("idle_mib", "3. broker memory idle (MiB)"),
                       ("attached_peak_mib", "3. storm peak, monitor attached (MiB)"),
                       ("detached_peak_mib", "3. storm peak, monitor stalled (MiB)")):
        last = key == "detached_peak_mib"
        lines.append(f"| {label} | {cell('memory', 'A', key)} | - | {cell('memory', 'C', key)} | "
                     + (f"A {_fmt(mem['ratios']['A peak/idle'], 2)}x idle, C "
                        f"{_fmt(mem['ratios']['C peak/idle'], 2)}x | {g_mem['text']} | "
                        f"{_met(g_mem)} |" if last else "| | |"))
    ov = f["overhead"]
    g_ov, = ov["goals"]
    window = (f", mean over {ov['window_s']:.0f} s, watchdog every {ov['watchdog_period_s']} s"
              if ov.get("window_s") and ov.get("watchdog_period_s") else "")
    lines.append(f"| 4. idle non-task messages/s ({ov['setups'].get('A', {}).get('workers')} "
                 f"workers{window}) | {cell('overhead', 'A', 'messages_per_s')} | - | "
                 f"{cell('overhead', 'C', 'messages_per_s')} | A/C {_fmt(g_ov['value'], 2)} | "
                 f"{g_ov['text']} | {_met(g_ov)} |")
    op = f["ops"]["setups"]["A"]
    lines.append(f"| 5. make up cold / warm to all-healthy (s) | {_fmt(op['make_up_cold_s'])} / "
                 f"{_fmt(op['make_up_warm_s'])} | - | - | | | |")
    for key, label in (("ansible", "5. ansible-playbook site.yml first / second run"),
                       ("make_test", "5. make test total")):
        lines.append(f"| {label} | {_fmt_ops(op[key])} | - | - | | | |")
    missed = [g for g in report["goals"] if g["met"] is False]
    if missed:
        lines += ["", "Goals missed in this run:"]
        lines += [f"- {g['figure']}: {g['text']} (measured {_fmt(g['value'], 3)}): {g['note']}"
                  for g in missed]
    if report.get("notes"):
        lines += ["", "Notes:"] + [f"- {n}" for n in report["notes"]]
    return "\n".join(lines) + "\n"


def _fmt_ops(value: Any) -> str:
    """A file another target wrote (ops-ansible.json, ops-make-test.json), briefly."""
    if not isinstance(value, dict):
        return str(value)
    if "site_yml_first_s" in value:
        return (f"{value['site_yml_first_s']:.0f} s (changed={value.get('changed_first')}) / "
                f"{value['site_yml_second_s']:.0f} s (changed={value.get('changed_second')}), "
                f"make demo {value.get('date', '')}")
    return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items() if k != "command")


# ------------------------------------------------------------------- shape
def shape_errors(report: dict) -> list[str]:
    """What a report lacks; empty when every figure and goal is present."""
    errors = []
    for key in ("schema", "mode", "date", "command", "machine", "budget", "figures", "goals",
                "duration_s", "repetitions"):
        if key not in report:
            errors.append(f"report: key '{key}' missing")
    figures = report.get("figures", {})
    expected = {"hol": {"A", "C"}, "throughput": {"A", "B", "C"}, "memory": {"A", "C"},
                "overhead": {"A", "C"}, "ops": {"A"}}
    # A run that brought up fewer setups (QUICK: A and C) says which.
    ran = set(report.get("setups", ("A", "B", "C")))
    for fig, setups in expected.items():
        setups = setups & ran
        if fig not in figures:
            errors.append(f"figures.{fig}: missing")
            continue
        have = set(figures[fig].get("setups", {}))
        if not setups <= have:
            errors.append(f"figures.{fig}.setups: has {sorted(have)}, needs {sorted(setups)}")
    for i, goal in enumerate(report.get("goals", [])):
        for key in ("figure", "text", "value", "met", "note"):
            if key not in goal:
                errors.append(f"goals[{i}]: key '{key}' missing")
        if goal.get("met") is False and not goal.get("note"):
            errors.append(f"goals[{i}] ({goal.get('text')}): missed without a reason")
    if len(report.get("goals", [])) != 5:
        errors.append(f"goals: {len(report.get('goals', []))} entries, expected 5")
    machine = report.get("machine", {})
    for key in ("nproc", "mem_total_gib", "kernel", "loadavg_start"):
        if key not in machine:
            errors.append(f"machine.{key}: missing")
    return errors


# ---------------------------------------------------------------- README
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def update_readme(readme: Path, table: str) -> None:
    """Replace the text between the bench markers of the README's Performance section."""
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise ValueError(f"{readme}: markers {BEGIN} / {END} not found; add them to the "
                         "Performance section")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n{table}{END}{tail}", encoding="utf-8")
