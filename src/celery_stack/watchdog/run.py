"""``celery-stack watchdog``: one pass over this host's worker processes.

Meant to run every minute (cron on hosts, a loop in containers). Each pass
lists the fleet processes Supervisor runs, probes them through the broker,
decides per process with ``decide.decide`` and restarts only hung ones.
``run_once`` takes every collaborator as an argument so tests inject fakes.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import socket
import sys
import time
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..derive.connections import SettingsError
from ..topology import Topology, TopologyError, load
from ..topology.model import Fleet
from . import decide as rules
from . import probes, resume, supervisor_rpc
from . import state as state_mod

# Forget other hosts' nodes not seen for a day: keeps the state file bounded.
PEER_TTL = 86400.0
# Seconds beyond the longest stopwaitsecs an XML-RPC call may take (stopProcess waits).
RPC_MARGIN = 60
# Seconds a pass waits for ping / inspect replies (a pass asks up to three times).
PING_TIMEOUT = 5.0


@dataclass(frozen=True)
class RunOptions:
    rules: rules.Options = field(default_factory=rules.Options)
    hostname: str = field(default_factory=socket.gethostname)
    dry_run: bool = False
    cluster_peers: bool = False  # compare with every node of the cluster, not only this host's


@dataclass(frozen=True)
class Process:
    name: str  # "group:process", as Supervisor's API wants it
    fleet: Fleet
    node: str
    state: str
    uptime: float
    pid: int = 0  # Supervisor's pid of the process; 0 when it is not running


@dataclass(frozen=True)
class Report:
    process: str
    node: str
    decision: rules.Decision
    dry_run: bool = False
    error: str | None = None

    def line(self) -> str:
        prefix = "[dry-run] " if self.dry_run else ""
        text = f"watchdog: {prefix}{self.process} ({self.node}) {self.decision.action}: " \
               f"{self.decision.reason}"
        return text + (f"; RESTART FAILED: {self.error}" if self.error else "")


def list_processes(infos: list[dict[str, Any]], topology: Topology,
                   hostname: str) -> list[Process]:
    """Fleet processes among Supervisor's (beat and foreign programs are ignored)."""
    programs = {f.program: f for f in topology.fleets}
    found = []
    for info in infos:
        fleet = programs.get(info.get("group", ""))
        if fleet is None:
            continue
        # process_name=%(program_name)s-%(process_num)02d gives the node's index.
        match = re.fullmatch(re.escape(fleet.program) + r"-(\d+)", info.get("name", ""))
        if match is None:
            continue
        running = info.get("statename") == "RUNNING" and info.get("start", 0) > 0
        uptime = float(info["now"] - info["start"]) if running else 0.0
        found.append(Process(f"{fleet.program}:{info['name']}", fleet,
                             fleet.node_name(int(match.group(1)), hostname),
                             str(info.get("statename", "UNKNOWN")), uptime,
                             int(info.get("pid") or 0) if running else 0))
    return found


def _fleet_of(node: str, topology: Topology) -> Fleet | None:
    # Node names are "<fleet>-NN@host" (fleet names contain no '@').
    local = node.split("@", 1)[0]
    name = local.rsplit("-", 1)[0]
    return next((f for f in topology.fleets if f.name == name), None)


def _shares_queue(a: Fleet, b: Fleet) -> bool:
    return bool(set(a.queues) & set(b.queues))


def _track_all(topology: Topology, procs: list[Process], state: state_mod.State,
               stats: dict[str, tuple[int, float | None]], now: float,
               ) -> tuple[dict[str, rules.Progress | None], dict[str, Fleet],
                          dict[str, tuple[rules.Progress, float]]]:
    """Every node's counter, tracked before any decision: peers are judged on them.

    Returns node -> progress, node -> fleet, and the remote peers to remember.
    """
    local = {p.node for p in procs}
    fleets: dict[str, Fleet] = {p.node: p.fleet for p in procs}
    tracked: dict[str, rules.Progress | None] = {}
    for p in procs:
        history = state.processes.get(p.name, rules.History())
        processed = stats.get(p.node, (None, None))[0]
        # Same start time as decide() uses, so both see the same restarts.
        tracked[p.node] = rules.track(history.progress, processed, now - p.uptime, now)
    peers = {n: v for n, v in state.peers.items() if v[1] > now - PEER_TTL}
    for node, (processed, uptime) in stats.items():
        if node in local or _fleet_of(node, topology) is None:
            continue
        prev = peers[node][0] if node in peers else None
        started = now - uptime if uptime is not None else (prev.started if prev else now)
        progress = rules.track(prev, processed, started, now)
        if progress is not None:
            peers[node] = (progress, now)
    for node, (progress, _) in peers.items():
        fleet = _fleet_of(node, topology)
        if fleet is not None:
            fleets[node], tracked[node] = fleet, progress
    return tracked, fleets, peers


def run_once(topology: Topology, supervisor: supervisor_rpc.Supervisor, prober: probes.Prober,
             state: state_mod.State, now: float, options: RunOptions,
             checkpoint: Callable[[state_mod.State], None] | None = None,
             emit: Callable[[Report], None] | None = None,
             say: Callable[[str], None] | None = None) -> list[Report]:
    """Decide for every fleet process and restart the hung ones; updates ``state`` in place.

    ``checkpoint`` is called with the updated state before any restart, so a
    restart is on disk (and counts toward backoff) even if this run is killed.
    ``emit`` gets each decision before any restart (a stop may take
    stopwaitsecs), and again each restart that failed. ``say`` gets a line for
    each stopped process continued before its restart (celery_stack.watchdog.resume).
    """
    emit = emit or (lambda _report: None)
    say = say or (lambda _line: None)
    procs = list_processes(supervisor.getAllProcessInfo(), topology, options.hostname)
    running = [p.node for p in procs if p.state == "RUNNING"]
    answered = prober.ping(running)
    responders = sorted(answered)
    stats = prober.stats(None if options.cluster_peers else responders)
    active = prober.active(responders)
    queues = sorted({q for p in procs for q in p.fleet.queues})
    ready = prober.ready(queues) if queues else {}

    tracked, fleets, state.peers = _track_all(topology, procs, state, stats, now)

    reports: list[Report] = []
    to_restart: list[Process] = []
    histories: dict[str, rules.History] = {}
    observations = {}
    for p in procs:
        others = [tracked[n] for n in tracked
                  if n != p.node and _shares_queue(fleets[n], p.fleet)]
        observations[p.name] = rules.Observation(
            state=p.state, uptime=p.uptime, answered_ping=p.node in answered,
            processed=stats.get(p.node, (None, None))[0], active=active.get(p.node),
            ready={q: ready[q] for q in p.fleet.queues if q in ready},
            peers_progressed=rules.peers_progressed(tracked[p.node], others),
        )
    silent = rules.host_wide_silence(observations.values())
    for p in procs:
        history = state.processes.get(p.name, rules.History())
        decision, history = rules.decide(observations[p.name], p.fleet, history, now,
                                         options.rules)
        if decision.action == rules.RESTART and silent:
            decision = rules.hold(decision, silent)
        if decision.action == rules.RESTART and not options.dry_run:
            history = rules.restarted(history, now)
            to_restart.append(p)
        histories[p.name] = history
        reports.append(Report(p.name, p.node, decision, dry_run=options.dry_run))

    # Processes Supervisor no longer runs are forgotten.
    state.processes = histories
    if to_restart and checkpoint is not None:
        checkpoint(state)
    for report in reports:
        emit(report)
    failed = {}
    for p in to_restart:
        if resume.resume_if_stopped(p.pid):
            say(f"watchdog: {p.name} ({p.node}) pid {p.pid} was stopped by a signal: "
                "continued it, so it handles Supervisor's TERM (warm shutdown)")
        try:
            supervisor_rpc.restart(supervisor, p.name)
        except (supervisor_rpc.SupervisorError, OSError, xmlrpc.client.Error) as exc:
            failed[p.name] = str(exc) or type(exc).__name__
    final = [Report(r.process, r.node, r.decision, r.dry_run, failed.get(r.process))
             for r in reports]
    for report in final:
        if report.error:
            emit(report)
    return final


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: must be >= 0")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be >= 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = rules.Options()
    parser.add_argument("--topology", metavar="FILE",
                        default=os.environ.get("CELERY_STACK_TOPOLOGY") or None,
                        help="topology file (default: $CELERY_STACK_TOPOLOGY or the packaged one)")
    parser.add_argument("--supervisor-url", metavar="URL",
                        default=os.environ.get("CELERY_STACK_SUPERVISOR_URL")
                        or supervisor_rpc.DEFAULT_URL,
                        help="unix:///path/to/supervisor.sock or http://user:pass@host:port/RPC2 "
                             "(default: $CELERY_STACK_SUPERVISOR_URL or %(default)s)")
    parser.add_argument("--state-file", metavar="FILE", default=state_mod.DEFAULT_PATH,
                        help="where runs remember timings and restarts (default: %(default)s)")
    parser.add_argument("--hostname", default=socket.gethostname(),
                        help="host part of the Celery node names (default: %(default)s)")
    parser.add_argument("--ping-timeout", type=_non_negative, default=PING_TIMEOUT, metavar="S",
                        help="seconds to wait for ping/inspect replies (default: %(default)s)")
    parser.add_argument("--unresponsive-after", type=_non_negative, default=d.unresponsive_after,
                        metavar="S", help="restart after this long without a ping reply; 0: on "
                        "the first miss; solo/gevent fleets wait at least time_limit + 30 "
                        "(default: %(default)s)")
    parser.add_argument("--stalled-after", type=_non_negative, default=d.stalled_after,
                        metavar="S", help="restart an idle process that processed nothing this "
                        "long while its queues had ready messages and peers progressed "
                        "(default: %(default)s)")
    parser.add_argument("--startup-grace", type=_non_negative, default=d.startup_grace,
                        metavar="S", help="leave processes younger than this alone "
                        "(default: %(default)s)")
    parser.add_argument("--max-restarts", type=_positive_int, default=d.max_restarts, metavar="N",
                        help="restarts of one process per window before backing off "
                             "(default: %(default)s)")
    parser.add_argument("--restart-window", type=_non_negative, default=d.restart_window,
                        metavar="S", help="backoff window in seconds (default: %(default)s)")
    parser.add_argument("--peers", choices=("local", "cluster"), default="local",
                        help="compare progress with this host's processes only, or with every "
                             "worker of the cluster (one broadcast inspect per run) "
                             "(default: %(default)s)")
    parser.add_argument("--dry-run", action="store_true",
                        help="report decisions, never stop or start anything")
    parser.add_argument("--quiet", action="store_true",
                        help="log only restarts, backoffs and failures")
    parser.add_argument("--interval", type=_non_negative, metavar="S",
                        default=float(os.environ.get("CELERY_STACK_WATCHDOG_INTERVAL") or 0),
                        help="start a pass every S seconds forever, on a fixed grid like "
                             "cron's (for containers without cron); 0: one pass, for cron "
                             "(default: %(default)s)")


def _options(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        rules=rules.Options(startup_grace=args.startup_grace,
                            unresponsive_after=args.unresponsive_after,
                            stalled_after=args.stalled_after, max_restarts=args.max_restarts,
                            restart_window=args.restart_window),
        hostname=args.hostname, dry_run=args.dry_run, cluster_peers=args.peers == "cluster")


def _error(message: str) -> None:
    print(f"watchdog: error: {message}", file=sys.stderr, flush=True)


def _emit(report: Report, quiet: bool) -> None:
    # Cron mails any output: --quiet keeps only what a human must know about.
    if quiet and not report.error and report.decision.action not in (rules.RESTART,
                                                                     rules.BACKOFF, rules.HOLD):
        return
    print(report.line(), file=sys.stderr if report.error else sys.stdout, flush=True)


def next_start(first: float, interval: float, now: float) -> float:
    """When the next pass starts: on the grid ``first + k x interval``, like cron's
    minutes, so a slow pass (probe timeouts, a loaded host) delays no later pass;
    a pass longer than ``interval`` skips the grid points it overran (pure)."""
    return first + (math.floor((now - first) / interval) + 1) * interval


def run(args: argparse.Namespace, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep, passes: int | None = None) -> int:
    """One pass (cron), or a pass every ``--interval`` seconds (Supervisor program).

    ``passes`` ends the loop after that many passes (tests); None loops forever.
    """
    if not args.interval:
        return run_pass(args)
    first = clock()
    rc = run_pass(args)
    if rc == 2:
        return rc  # a configuration error will not fix itself: let the supervisor see it
    done = 1
    while passes is None or done < passes:
        t = clock()
        sleep(max(0.0, next_start(first, args.interval, t) - t))
        rc = run_pass(args)
        done += 1
    return rc


def run_pass(args: argparse.Namespace) -> int:
    """0: the pass ran (restarts included); 1: probes or a restart failed; 2: configuration."""
    try:
        topology = load(args.topology)
    except TopologyError as exc:
        _error(str(exc))
        return 2
    options = _options(args)
    url = args.supervisor_url
    state_path = Path(args.state_file)
    try:
        supervisor = supervisor_rpc.connect(url, timeout=topology.longest_stop_wait + RPC_MARGIN)
        app = probes.make_app(topology)
    except (supervisor_rpc.SupervisorError, SettingsError) as exc:
        _error(str(exc))
        return 2
    prober = probes.CeleryProber(app, timeout=args.ping_timeout)
    try:
        with state_mod.locked(state_path) as got_lock:
            if not got_lock:
                print("watchdog: a previous run is still active; skipping this one", flush=True)
                return 0
            state, warning = state_mod.load(state_path)
            if warning:
                _error(warning)
            try:
                reports = run_once(topology, supervisor, prober, state, time.time(), options,
                                   checkpoint=lambda s: state_mod.save(state_path, s),
                                   emit=lambda r: _emit(r, args.quiet),
                                   say=lambda line: print(line, flush=True))
            except (OSError, xmlrpc.client.Error) as exc:
                _error(f"cannot reach Supervisor at {supervisor_rpc.redact(url)}: {exc}; "
                       "check --supervisor-url and that supervisord runs")
                return 2
            except probes.ProbeError as exc:
                _error(f"cannot ask the workers through the broker ({exc}); "
                       "no process was restarted")
                return 1
            state_mod.save(state_path, state)
    except state_mod.StateError as exc:
        _error(str(exc))
        return 2
    return 1 if any(r.error for r in reports) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="celery-stack watchdog",
        description="Restart hung Celery worker processes (and only those) through Supervisor.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
