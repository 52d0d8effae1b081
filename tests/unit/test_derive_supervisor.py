"""Supervisor programs: checked for what they mean, by parsing the rendered text."""

from __future__ import annotations

import configparser
import shlex

import pytest
from celery.bin.celery import celery as celery_group
from celery.bin.worker import worker as worker_command

from celery_stack.derive import supervisor
from celery_stack.topology import load

PATHS = supervisor.Paths()


@pytest.fixture(scope="module")
def topology():
    return load(None)


def parse(text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


@pytest.fixture(scope="module")
def programs(topology):
    return parse(supervisor.render(topology, PATHS))


def option(argv: list[str], name: str) -> str:
    assert argv.count(name) == 1, f"{name} must appear once in {argv}"
    return argv[argv.index(name) + 1]


def fleet_argv(programs, fleet) -> list[str]:
    return shlex.split(programs[f"program:celery-{fleet.name}"]["command"])


def test_one_program_per_fleet_and_no_beat_unless_asked(topology, default_raw, programs):
    expected = {f"program:celery-{f['name']}" for f in default_raw["fleets"]}
    assert set(programs.sections()) == expected


def test_beat_program_only_when_asked_and_enabled(topology, build, base):
    with_beat = parse(supervisor.render(topology, PATHS, beat=True))
    assert "program:celery-beat" in with_beat.sections()
    argv = shlex.split(with_beat["program:celery-beat"]["command"])
    assert argv[0] == "celery" and "beat" in argv and "worker" not in argv
    assert with_beat["program:celery-beat"]["numprocs"] == "1"

    base["beat"]["enabled"] = False
    disabled = parse(supervisor.render(build(base), PATHS, beat=True))
    assert "program:celery-beat" not in disabled.sections()


def test_priority_fleet_consumes_exactly_the_priority_queue(topology, programs):
    argv = fleet_argv(programs, topology.fleet("priority"))
    assert option(argv, "--queues").split(",") == ["priority"]


def test_every_queue_is_consumed_by_exactly_the_fleets_that_list_it(default_raw, topology,
                                                                   programs):
    consumers: dict[str, set[str]] = {}
    for fleet in topology.fleets:
        for q in option(fleet_argv(programs, fleet), "--queues").split(","):
            consumers.setdefault(q, set()).add(fleet.name)
    expected = {q["name"]: {f["name"] for f in default_raw["fleets"] if q["name"] in f["queues"]}
                for q in default_raw["queues"]}
    assert consumers == expected
    assert all(expected.values())


def test_supervisor_settings_hold_the_shutdown_budget(topology, programs):
    for fleet in topology.fleets:
        section = programs[f"program:celery-{fleet.name}"]
        assert section.getint("numprocs") == fleet.processes
        stop = section.getint("stopwaitsecs")
        assert stop > fleet.time_limit, fleet.name
        # gevent/threads fleets have no soft limit (topology/pools.py refuses it on gevent).
        if fleet.pool == "prefork":
            assert fleet.time_limit > fleet.soft_time_limit, fleet.name
        # The container runtime must wait longer than Supervisor does.
        assert topology.container_grace_period((fleet.name,)) > stop
        for key in ("killasgroup", "autorestart", "autostart"):
            assert section.getboolean(key), f"{fleet.name}: {key}"
        # TERM must reach only the main process, or running tasks die at once.
        assert not section.getboolean("stopasgroup"), fleet.name
        assert section["stopsignal"] == "TERM"


def test_no_shell_between_supervisor_and_celery(topology, programs):
    for fleet in topology.fleets:
        argv = fleet_argv(programs, fleet)
        assert argv[0] == "celery"
        assert argv[1:4] == ["-A", topology.app.module, "worker"]
        for token in argv:
            assert token not in {"sh", "bash", "-c", "&&", "||", ";", "|", "exec"}


def test_celery_binary_path_is_the_first_token(topology):
    paths = supervisor.Paths(celery_bin="/opt/celery-stack/bin/celery")
    programs = parse(supervisor.render(topology, paths))
    for section in programs.sections():
        assert shlex.split(programs[section]["command"])[0] == "/opt/celery-stack/bin/celery"


def test_worker_options_are_real_celery_options(topology, programs):
    known = {o for p in worker_command.params for o in p.opts}
    known |= {o for p in celery_group.params for o in p.opts}
    for fleet in topology.fleets:
        argv = fleet_argv(programs, fleet)
        for token in argv[1:]:
            if token.startswith("-"):
                assert token.split("=")[0] in known, token


def expand(node: str, process_num: int, host: str = "h1") -> str:
    """What Supervisor then Celery make of a --hostname value."""
    node = node.replace("%(process_num)02d", f"{process_num:02d}").replace("%%", "%")
    return node.replace("%h", host)


def test_node_names_unique_per_process(build, base):
    base["fleets"][0]["processes"] = 3
    base["fleets"][1]["processes"] = 2
    topology = build(base)
    programs = parse(supervisor.render(topology, PATHS))
    templates, nodes = set(), []
    for fleet in topology.fleets:
        section = programs[f"program:celery-{fleet.name}"]
        template = option(shlex.split(section["command"]), "--hostname")
        assert "%(process_num)02d" in template
        templates.add(template)
        nodes += [expand(template, n) for n in range(section.getint("numprocs"))]
        # numprocs > 1 requires process_num in process_name, one log per process.
        assert "%(process_num)" in section["process_name"]
    assert len(templates) == len(topology.fleets)
    assert len(nodes) == len(set(nodes)) == 5
    assert all(n.endswith("@h1") for n in nodes)


def test_fleet_environment_names_the_fleet(topology, programs):
    for fleet in topology.fleets:
        env = programs[f"program:celery-{fleet.name}"]["environment"]
        assert f'CELERY_STACK_FLEET="{fleet.name}"' in env.split(",")


def test_concurrency_or_autoscale(build, base):
    base["queues"][1]["type"] = "classic"
    base["fleets"][1]["autoscale"] = {"min": 2, "max": 6}
    base["fleets"][0]["concurrency"] = 3
    topology = build(base)
    auto = supervisor.worker_command(topology, topology.fleet("bulk"))
    assert "--concurrency" not in auto
    # Celery's --autoscale takes "max,min".
    assert option(auto, "--autoscale") == "6,2"
    fixed = supervisor.worker_command(topology, topology.fleet("default"))
    assert option(fixed, "--concurrency") == "3" and "--autoscale" not in fixed


def test_monitoring_switches_reach_the_command(build, base):
    base["monitoring"].update(events=False, gossip=False, mingle=True, worker_heartbeat=False)
    topology = build(base)
    argv = supervisor.worker_command(topology, topology.fleet("default"))
    assert "--task-events" not in argv
    assert "--without-gossip" in argv
    assert "--without-mingle" not in argv
    assert "--without-heartbeat" in argv
    assert "--heartbeat-interval" not in argv


def test_worker_heartbeat_interval_reaches_the_command(build, base):
    base["monitoring"].update(worker_heartbeat=True, worker_heartbeat_interval=15)
    topology = build(base)
    argv = supervisor.worker_command(topology, topology.fleet("default"))
    assert option(argv, "--heartbeat-interval") == "15"


def test_log_files_per_process_when_logging_to_a_directory(topology):
    programs = parse(supervisor.render(topology, supervisor.Paths(log_dir="/var/log/celery")))
    logs = [programs[s]["stdout_logfile"] for s in programs.sections()]
    assert all(log.startswith("/var/log/celery/") for log in logs)
    assert all("%(process_num)02d" in log for log in logs)
