"""Jinja filters that expose the celery_stack package to the roles.

The roles never re-implement a derivation: Supervisor programs, RabbitMQ
objects and the topology summary come from the same functions the compose
images call through the CLI. The package is installed in the controller's
virtualenv by `make bootstrap` (`pip install -e .`).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import yaml
from ansible.errors import AnsibleFilterError


def _pkg(module: str):
    """``celery_stack.<module>``, imported on first use, not when the plugin loads.

    Ansible imports every filter plugin in each forked worker, for every task
    that templates a filter; the derivations import Celery and kombu (0.2 s),
    which was a third of the controller's CPU in a no-change run of kernel.yml.
    """
    try:
        return importlib.import_module(f"celery_stack.{module}")
    except ImportError as exc:  # pragma: no cover - depends on the controller
        raise ImportError(
            "celery_stack is not importable on the Ansible controller: run ansible from the "
            "project virtualenv (make bootstrap; .venv/bin/ansible-playbook)"
        ) from exc


def celery_stack_topology_path(path: str | None) -> str:
    """Absolute path of the topology file; empty means the packaged demo topology."""
    return str(Path(path).resolve()) if path else str(_pkg("topology").default_path())


def _load(path: str, rabbitmq_version: str | None = None):
    """The validated topology; with ``rabbitmq_version``, as that broker sees it."""
    path = celery_stack_topology_path(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise AnsibleFilterError(f"celery_stack_topology_file: cannot read {path}: "
                                 f"{exc.strerror}; check the path") from exc
    except yaml.YAMLError as exc:
        raise AnsibleFilterError(f"celery_stack_topology_file: {path} is not valid YAML: "
                                 f"{exc}") from exc
    if rabbitmq_version and isinstance(data, dict):
        # The installed broker decides the HA mechanism, whatever the file assumed.
        broker = data.setdefault("broker", {})
        if isinstance(broker, dict):
            broker["rabbitmq_version"] = str(rabbitmq_version)
    topology = _pkg("topology")
    try:
        return topology.parse(data, path)
    except topology.TopologyError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def celery_stack_topology(path: str, rabbitmq_version: str | None = None) -> dict:
    """Summary of the topology (queues, fleets, beat) after full validation."""
    t = _load(path, rabbitmq_version)
    return {
        "app_module": t.app.module,
        "queues": [q.name for q in t.queues],
        "fleets": {f.name: {"queues": list(f.queues), "program": f.program,
                            "processes": f.processes, "stop_wait": f.stop_wait,
                            "pool": f.pool}
                   for f in t.fleets},
        "beat": t.beat.enabled,
        "beat_stop_wait": _pkg("derive.supervisor").BEAT_STOP_WAIT,
        "heartbeat": t.broker.heartbeat,
        "grace_period": t.container_grace_period(),
    }


def celery_stack_supervisor(path: str, celery_bin: str, celery_stack_bin: str,
                            topology_file: str, log_dir: str, user: str,
                            fleets: list[str] | None = None, beat: bool = False,
                            env: dict[str, str] | None = None,
                            watchdog_interval: int = 0) -> str:
    """The Supervisor include file for this host (fleets: None = all)."""
    t = _load(path)
    supervisor = _pkg("derive.supervisor")
    paths = supervisor.Paths(
        celery_bin=celery_bin, celery_stack_bin=celery_stack_bin, topology_file=topology_file,
        log_dir=log_dir, user=user, directory=None,
        env_file_vars=tuple(sorted((env or {}).items())),
    )
    return supervisor.render(t, paths, fleets, beat=beat, watchdog_interval=watchdog_interval)


def celery_stack_rabbitmq_definitions(path: str, vhost: str, rabbitmq_version: str) -> dict:
    """Exchanges, queues, bindings, policies and the vhost for the installed version."""
    return _pkg("derive.rabbitmq").definitions(_load(path, rabbitmq_version), vhost)


def celery_stack_rabbitmq_user(name: str, role: str, password: str) -> dict:
    """A user of ``role`` (admin, application, monitoring) with that role's least privileges."""
    rabbitmq_users = _pkg("derive.rabbitmq_users")
    try:
        r = rabbitmq_users.ROLES[role]
    except KeyError:
        raise AnsibleFilterError(f"celery_stack_rabbitmq_user: unknown role {role!r}; "
                                 f"one of {', '.join(sorted(rabbitmq_users.ROLES))}") from None
    return {"name": name, "password": password, "tags": list(r.tags),
            "configure": r.configure, "write": r.write, "read": r.read}


def celery_stack_rabbitmq_plan(export: str | None, derived: dict, users: list,
                               vhost: str) -> dict:
    """What the cluster lacks, from ``rabbitmqctl export_definitions -`` (None: unreadable)."""
    try:
        live = json.loads(export) if export else None
    except ValueError:
        live = None
    return _pkg("derive.rabbitmq_live").plan(live, derived, users, vhost)


class FilterModule:
    def filters(self):
        return {
            "celery_stack_topology": celery_stack_topology,
            "celery_stack_topology_path": celery_stack_topology_path,
            "celery_stack_supervisor": celery_stack_supervisor,
            "celery_stack_rabbitmq_definitions": celery_stack_rabbitmq_definitions,
            "celery_stack_rabbitmq_user": celery_stack_rabbitmq_user,
            "celery_stack_rabbitmq_plan": celery_stack_rabbitmq_plan,
        }
