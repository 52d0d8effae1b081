"""The topology: the one description of queues, routes, fleets, beat and monitoring.

Every derived artefact (Celery settings, Supervisor programs, RabbitMQ objects,
smoke probes, watchdog decisions) reads these objects and nothing else. The
objects are immutable and only ever built by ``load.py`` after validation, so a
derivation may assume every cross-field rule in ``validate.py`` holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

QUEUE_TYPES = ("quorum", "classic")
POOLS = ("prefork", "threads", "gevent", "solo")
HA_MODES = ("quorum", "mirrored")

# Seconds Supervisor waits beyond a fleet's hard time limit before SIGKILL, and
# seconds the container runtime waits beyond Supervisor. Together they are the
# shutdown budget: grace_period > stopwaitsecs > time_limit > soft_time_limit.
STOP_WAIT_MARGIN = 15
CONTAINER_GRACE_MARGIN = 15


@dataclass(frozen=True)
class Queue:
    name: str
    type: str = "quorum"
    # Redeliveries before a quorum queue drops or dead-letters a message.
    delivery_limit: int = 20
    dead_letter: bool = True
    max_length: int | None = None

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.name}.dlq"


@dataclass(frozen=True)
class Route:
    task: str  # a task name or an fnmatch glob ("app.tasks.convert_*")
    queue: str


@dataclass(frozen=True)
class Autoscale:
    min: int
    max: int


@dataclass(frozen=True)
class Fleet:
    name: str
    queues: tuple[str, ...]
    pool: str = "prefork"
    concurrency: int | None = 2
    autoscale: Autoscale | None = None
    processes: int = 1  # Supervisor numprocs per host
    prefetch_multiplier: int = 1
    max_tasks_per_child: int | None = 1000
    max_memory_per_child: int | None = None  # KiB, as Celery expects
    soft_time_limit: int | None = None
    time_limit: int = 300
    acks_late: bool = True
    stop_wait_seconds: int | None = None  # default: time_limit + STOP_WAIT_MARGIN

    @property
    def program(self) -> str:
        """Supervisor program (and group) name of this fleet."""
        return f"celery-{self.name}"

    @property
    def stop_wait(self) -> int:
        """Supervisor ``stopwaitsecs``: long enough for a warm shutdown."""
        if self.stop_wait_seconds is not None:
            return self.stop_wait_seconds
        return self.time_limit + STOP_WAIT_MARGIN

    def node_name(self, index: int, hostname: str = "%h") -> str:
        """Celery node name of process ``index`` (unique per host and fleet)."""
        return f"{self.name}-{index:02d}@{hostname}"


@dataclass(frozen=True)
class BeatEntry:
    name: str
    task: str
    every: int | None = None  # seconds
    cron: str | None = None  # "minute hour day_of_month month day_of_week"
    queue: str | None = None
    args: tuple = ()


@dataclass(frozen=True)
class Beat:
    enabled: bool = True
    schedule: tuple[BeatEntry, ...] = ()


@dataclass(frozen=True)
class Monitoring:
    events: bool = True
    event_queue_ttl: float = 5.0  # seconds an event may wait in a monitor's queue
    event_queue_expires: float = 60.0  # seconds an unused event queue lives
    gossip: bool = False
    mingle: bool = False
    worker_heartbeat: bool = True
    worker_heartbeat_interval: int = 10  # seconds between worker-heartbeat events


@dataclass(frozen=True)
class Results:
    ignore_by_default: bool = True
    expires: int = 86400  # seconds


@dataclass(frozen=True)
class Broker:
    rabbitmq_version: str = "4.0"
    ha: str = "quorum"
    heartbeat: int = 60
    pool_limit: int = 10
    mirror_count: int = 2  # only for ha: mirrored (RabbitMQ < 4.0)

    @property
    def version_tuple(self) -> tuple[int, int]:
        major, minor = self.rabbitmq_version.split(".")[:2]
        return int(major), int(minor)


@dataclass(frozen=True)
class App:
    name: str
    module: str  # "package.module:attribute" of the Celery app object
    default_queue: str = "default"


@dataclass(frozen=True)
class Topology:
    app: App
    queues: tuple[Queue, ...]
    fleets: tuple[Fleet, ...]
    routes: tuple[Route, ...] = ()
    beat: Beat = field(default_factory=Beat)
    monitoring: Monitoring = field(default_factory=Monitoring)
    results: Results = field(default_factory=Results)
    broker: Broker = field(default_factory=Broker)

    def queue(self, name: str) -> Queue:
        return next(q for q in self.queues if q.name == name)

    def fleet(self, name: str) -> Fleet:
        return next(f for f in self.fleets if f.name == name)

    def fleets_for(self, queue: str) -> tuple[Fleet, ...]:
        return tuple(f for f in self.fleets if queue in f.queues)

    @property
    def uses_quorum(self) -> bool:
        return any(q.type == "quorum" for q in self.queues)

    @property
    def longest_stop_wait(self) -> int:
        return max(f.stop_wait for f in self.fleets)

    def container_grace_period(self, fleets: tuple[str, ...] | None = None) -> int:
        """Runtime stop grace for one container/host running ``fleets`` (default: all).

        Supervisor stops program groups one after another, not in parallel,
        so the budget is the sum of their stop waits plus a margin.
        """
        chosen = self.fleets if fleets is None else [self.fleet(n) for n in fleets]
        return sum(f.stop_wait for f in chosen) + CONTAINER_GRACE_MARGIN
