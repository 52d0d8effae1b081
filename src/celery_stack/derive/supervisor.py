"""Supervisor programs derived from the topology: one per fleet, one for beat.

The same text is installed by the worker image (compose) and by the
celery_workers role (Ansible, through its filter plugin), so the two can not
drift. Commands are exec'd by Supervisor directly (no shell), so Celery
receives SIGTERM itself and can do a warm shutdown within ``stopwaitsecs``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..topology.model import Fleet, Topology

# Seconds a process must stay up to count as started (Celery connects to the
# broker first; a crash loop before that is a failed start, not a restart).
START_SECS = 10
# Beat holds no task: 30 s to write its schedule and close the connection.
BEAT_STOP_WAIT = 30


@dataclass(frozen=True)
class Paths:
    celery_bin: str = "celery"
    celery_stack_bin: str = "celery-stack"
    topology_file: str | None = None  # exported as CELERY_STACK_TOPOLOGY
    log_dir: str | None = None  # None: log to Supervisor's stdout (containers)
    beat_schedule_file: str = "/var/lib/celery-stack/celerybeat-schedule"
    user: str | None = None  # run as this user (Supervisor started as root)
    directory: str | None = None
    env_file_vars: tuple[tuple[str, str], ...] = ()  # extra environment, e.g. *_FILE paths


def worker_command(topology: Topology, fleet: Fleet, celery_bin: str = "celery") -> list[str]:
    mon = topology.monitoring
    argv = [
        celery_bin, "-A", topology.app.module, "worker",
        "--queues", ",".join(fleet.queues),
        "--pool", fleet.pool,
        # Unique node name per process: Supervisor expands process_num,
        # Celery expands %h to the host name (escaped %% for Supervisor).
        "--hostname", fleet.node_name(0).replace("00@%h", "%(process_num)02d@%%h"),
        "--loglevel", "INFO",
    ]
    if fleet.autoscale is not None:
        argv += ["--autoscale", f"{fleet.autoscale.max},{fleet.autoscale.min}"]
    else:
        argv += ["--concurrency", str(fleet.concurrency)]
    if mon.events:
        argv.append("--task-events")
    if not mon.gossip:
        argv.append("--without-gossip")
    if not mon.mingle:
        argv.append("--without-mingle")
    if not mon.worker_heartbeat:
        argv.append("--without-heartbeat")
    else:
        # Each heartbeat is a broker message per process; monitors read its
        # interval from the event, so a longer one only delays "offline".
        argv += ["--heartbeat-interval", str(mon.worker_heartbeat_interval)]
    return argv


def beat_command(topology: Topology, paths: Paths) -> list[str]:
    return [
        paths.celery_bin, "-A", topology.app.module, "beat", "--loglevel", "INFO",
        "--schedule", paths.beat_schedule_file,
        # No pidfile: a stale one after a crash would stop beat from starting;
        # Supervisor already guarantees a single instance on this host.
        "--pidfile=",
    ]


def _environment(pairs: list[tuple[str, str]]) -> str:
    # Supervisor expands %(...)s in values: escape literal percent signs.
    return ",".join(f'{k}="{v.replace("%", "%%")}"' for k, v in pairs)


def _logging(name: str, paths: Paths) -> list[str]:
    if paths.log_dir is None:
        return ["stdout_logfile=/dev/stdout", "stdout_logfile_maxbytes=0"]
    return [
        f"stdout_logfile={paths.log_dir}/{name}.log",
        "stdout_logfile_maxbytes=50MB",
        "stdout_logfile_backups=5",
    ]


def _program(name: str, argv: list[str], env: list[tuple[str, str]], paths: Paths,
             extra: list[str], log_name: str) -> str:
    lines = [
        f"[program:{name}]",
        f"command={' '.join(argv)}",
        *extra,
        *([f"environment={_environment(env)}"] if env else []),
        "autostart=true",
        # Restart whatever the exit code: a worker must always be running.
        "autorestart=true",
        f"startsecs={START_SECS}",
        "startretries=10",
        # TERM to the main process only: it starts Celery's warm shutdown and
        # lets the pool children finish their tasks. TERM to the whole group
        # (stopasgroup) would kill running tasks at once (celery#2700). After
        # stopwaitsecs the whole group is killed, so no child is orphaned.
        "stopsignal=TERM",
        "stopasgroup=false",
        "killasgroup=true",
        "redirect_stderr=true",
        *_logging(log_name, paths),
    ]
    if paths.user:
        lines.append(f"user={paths.user}")
    if paths.directory:
        lines.append(f"directory={paths.directory}")
    return "\n".join(lines) + "\n"


def _base_env(paths: Paths) -> list[tuple[str, str]]:
    env = []
    if paths.topology_file:
        env.append(("CELERY_STACK_TOPOLOGY", paths.topology_file))
    env.extend(paths.env_file_vars)
    return env


def fleet_program(topology: Topology, fleet: Fleet, paths: Paths) -> str:
    env = [("CELERY_STACK_FLEET", fleet.name), *_base_env(paths)]
    extra = [
        "process_name=%(program_name)s-%(process_num)02d",
        f"numprocs={fleet.processes}",
        # Warm shutdown budget: longer than the fleet's hard time limit.
        f"stopwaitsecs={fleet.stop_wait}",
    ]
    # One log file per process: numprocs > 1 must not share a file.
    return _program(fleet.program, worker_command(topology, fleet, paths.celery_bin), env,
                    paths, extra, log_name="%(program_name)s-%(process_num)02d")


def beat_program(topology: Topology, paths: Paths) -> str:
    extra = ["numprocs=1", f"stopwaitsecs={BEAT_STOP_WAIT}"]
    return _program("celery-beat", beat_command(topology, paths), _base_env(paths), paths, extra,
                    log_name="celery-beat")


def watchdog_program(paths: Paths, interval: int) -> str:
    """The watchdog as a Supervisor program, for hosts/containers without cron."""
    argv = [paths.celery_stack_bin, "watchdog", "--quiet", "--interval", str(interval)]
    # Runs as Supervisor's user (root): it needs the root-only control socket.
    lines = [
        "[program:celery-stack-watchdog]",
        f"command={' '.join(argv)}",
        *([f"environment={_environment(_base_env(paths))}"] if _base_env(paths) else []),
        "autostart=true",
        "autorestart=true",
        "startsecs=5",
        "stopsignal=TERM",
        "stopwaitsecs=10",
        "redirect_stderr=true",
        *_logging("celery-stack-watchdog", paths),
    ]
    return "\n".join(lines) + "\n"


def render(topology: Topology, paths: Paths, fleets: list[str] | None = None,
           beat: bool = False, watchdog_interval: int = 0) -> str:
    """Supervisor include file for the given fleets (None: all; []: none), beat, watchdog."""
    chosen = list(topology.fleets) if fleets is None else [topology.fleet(n) for n in fleets]
    parts = ["; Generated by celery-stack from the topology; do not edit by hand.\n"]
    parts += [fleet_program(topology, f, paths) for f in chosen]
    if beat and topology.beat.enabled:
        parts.append(beat_program(topology, paths))
    if watchdog_interval and chosen:
        parts.append(watchdog_program(paths, watchdog_interval))
    return "\n".join(parts)
