"""Pure decision rules: is one worker process hung, and may it be restarted now?

No I/O here: every input is an observation or remembered history, and every
output is a ``Decision`` plus the history to remember, so the rules can be
tested exhaustively without Supervisor, Celery or a broker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..topology.model import Fleet

OK, RESTART, SKIP, BACKOFF, HOLD = "ok", "restart", "skip", "backoff", "hold"

# Pools whose main process cannot answer a ping while a task runs: solo runs
# the task in the consumer itself, gevent's hub starves under a task that
# never yields. Their silence is only suspicious beyond the fleet's time limit.
BLOCKING_POOLS = ("solo", "gevent")
# Seconds added to a blocking pool's time limit before silence means hung.
BLOCKING_POOL_MARGIN = 30
# Seconds of clock jitter tolerated when deciding whether a process restarted
# (start times are derived from uptimes read at slightly different moments).
START_JITTER = 5.0
# Seconds a pass may read its clock late (cron starts Python, which imports
# Celery): silence this close to the threshold counts as past it, or two
# passes one threshold apart measure 119.9 s and the restart slips a pass.
PASS_JITTER = 5.0


@dataclass(frozen=True)
class Options:
    startup_grace: float = 60.0
    unresponsive_after: float = 120.0
    stalled_after: float = 600.0
    max_restarts: int = 3
    restart_window: float = 1800.0


@dataclass(frozen=True)
class Progress:
    """What we know about a node's processed-task counter."""

    processed: int
    since: float  # the counter has had this value since at least this time
    started: float  # when the node started (restart detection)
    progressed_at: float | None = None  # last time we saw the counter move


@dataclass(frozen=True)
class History:
    """What the watchdog remembers about one Supervisor process between runs."""

    unresponsive_since: float | None = None
    progress: Progress | None = None
    restarts: tuple[float, ...] = ()


@dataclass(frozen=True)
class Observation:
    state: str  # Supervisor statename: RUNNING, STARTING, BACKOFF, ...
    uptime: float
    answered_ping: bool
    processed: int | None = None  # summed inspect().stats()["total"]; None: unknown
    active: int | None = None  # tasks executing now; None: unknown
    ready: Mapping[str, int] = field(default_factory=dict)  # queue -> ready messages
    peers_progressed: bool = False


@dataclass(frozen=True)
class Decision:
    action: str
    reason: str


def track(prev: Progress | None, processed: int | None, started: float,
          now: float) -> Progress | None:
    """Fold one counter reading into ``prev``; idempotent for the same reading."""
    if processed is None:
        return prev
    restarted = prev is not None and started > prev.started + START_JITTER
    if prev is None or restarted or processed < prev.processed:
        # New baseline: a counter of 0 has not moved since the node started;
        # any other value may have moved just before we first looked.
        since = started if processed == 0 else now
        return Progress(processed, since, started)
    if processed != prev.processed:
        return Progress(processed, now, prev.started, progressed_at=now)
    return prev


def peers_progressed(progress: Progress | None, peers: Iterable[Progress | None]) -> bool:
    """Did any peer's counter move after this node's counter last moved?"""
    if progress is None:
        return False
    return any(p is not None and p.progressed_at is not None and p.progressed_at > progress.since
               for p in peers)


def unresponsive_threshold(fleet: Fleet, options: Options) -> float:
    if fleet.pool in BLOCKING_POOLS:
        return max(options.unresponsive_after, fleet.time_limit + BLOCKING_POOL_MARGIN)
    return options.unresponsive_after


def _seconds(value: float) -> str:
    return f"{value:.0f} s"


def _hung_reason(obs: Observation, fleet: Fleet, history: History, now: float,
                 options: Options) -> tuple[str | None, str]:
    """(reason to restart or None, reason it is fine) for a RUNNING, started process."""
    if not obs.answered_ping:
        silent = now - (history.unresponsive_since if history.unresponsive_since is not None
                        else now)
        limit = unresponsive_threshold(fleet, options)
        text = f"no ping reply for {_seconds(silent)} (threshold {_seconds(limit)})"
        return (text, "") if silent + PASS_JITTER >= limit else (None, f"{text}; waiting")
    progress = history.progress
    if progress is None or obs.processed is None:
        return None, "answers ping; progress unknown"
    stalled = now - progress.since
    ready = sum(obs.ready.get(q, 0) for q in fleet.queues)
    text = f"answers ping; processed nothing for {_seconds(stalled)}"
    if stalled < options.stalled_after:
        return None, f"answers ping; last progress {_seconds(stalled)} ago"
    if obs.active is None or obs.active > 0:
        # Running tasks (or unknown): busy, not hung. Never restart a busy worker.
        busy = "unknown" if obs.active is None else str(obs.active)
        return None, f"{text} but busy (active tasks: {busy})"
    if ready == 0:
        return None, f"{text}; its queues have no ready messages"
    if not obs.peers_progressed:
        # Nobody progressed either: a broker or downstream problem, not this process.
        return None, f"{text}; peers did not progress either"
    return (f"{text} while {ready} message(s) wait and peers progressed "
            f"(threshold {_seconds(options.stalled_after)})"), ""


def decide(obs: Observation, fleet: Fleet, history: History, now: float,
           options: Options) -> tuple[Decision, History]:
    started = now - obs.uptime
    window_start = now - options.restart_window
    restarts = tuple(t for t in history.restarts if t > window_start)
    progress = track(history.progress, obs.processed, started, now)
    unresponsive = history.unresponsive_since
    if unresponsive is not None and started > unresponsive + START_JITTER:
        unresponsive = None  # it restarted since: its silence clock starts over
    if obs.state != "RUNNING":
        # Supervisor owns starting/stopping/crashed processes.
        return (Decision(SKIP, f"state {obs.state}; left to Supervisor"),
                History(None, progress, restarts))
    if obs.uptime < options.startup_grace:
        return (Decision(SKIP, f"starting (up {_seconds(obs.uptime)}, grace "
                               f"{_seconds(options.startup_grace)})"),
                History(None, progress, restarts))
    if not obs.answered_ping:
        unresponsive = unresponsive if unresponsive is not None else now
    else:
        unresponsive = None
    current = History(unresponsive, progress, restarts)
    why, fine = _hung_reason(obs, fleet, current, now, options)
    if why is None:
        return Decision(OK, fine), current
    if len(restarts) >= options.max_restarts:
        return (Decision(BACKOFF, f"{why}; but restarted {len(restarts)} time(s) in the last "
                                  f"{_seconds(options.restart_window)}: backing off"),
                current)
    # The caller applies ``restarted`` only if it really restarts (not on --dry-run).
    return Decision(RESTART, why), current


def host_wide_silence(observations: Iterable[Observation]) -> int:
    """How many processes are silent at once when ALL of them are (else 0).

    Counts RUNNING processes, young ones too: when two or more are silent
    together, the cause is shared (the broker, the network, an overloaded
    host), so restarting them would only add load. A single process on its
    own host cannot be told apart from such trouble and is judged alone.
    """
    running = [o for o in observations if o.state == "RUNNING"]
    if len(running) < 2 or any(o.answered_ping for o in running):
        return 0
    return len(running)


def hold(decision: Decision, silent: int) -> Decision:
    """A restart withheld because every process on the host is silent at once."""
    return Decision(HOLD, f"{decision.reason}; but all {silent} processes on this host are "
                          "silent at once (broker, network or host trouble, not one hung "
                          "worker): restarting nothing")


def restarted(history: History, now: float) -> History:
    """History after the watchdog restarted the process: the restart counts toward backoff."""
    return History(None, None, (*history.restarts, now))
