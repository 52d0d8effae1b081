"""Watchdog orchestration against a fake Supervisor and a fake Celery prober."""

from __future__ import annotations

import argparse
import json
import xmlrpc.client
from dataclasses import replace

import pytest

from celery_stack.topology.model import App, Fleet, Queue, Topology
from celery_stack.watchdog import decide as rules
from celery_stack.watchdog import run as wd
from celery_stack.watchdog import state as st

HOST = "w1"
NOW = 1_700_000_000.0
TOPOLOGY = Topology(
    app=App(name="demo", module="demo.app:app", default_queue="default"),
    queues=(Queue("default"), Queue("bulk")),
    fleets=(Fleet(name="bulk", queues=("bulk",), processes=3, time_limit=300),
            Fleet(name="default", queues=("default",))),
)


class FakeSupervisor:
    """Records stop/start calls; the process list is Supervisor's getAllProcessInfo shape."""

    def __init__(self, infos, stop_fault=None):
        self.infos = infos
        self.calls: list[tuple[str, str, bool]] = []
        self.stop_fault = stop_fault

    def getAllProcessInfo(self):
        return self.infos

    def stopProcess(self, name, wait=True):
        self.calls.append(("stop", name, wait))
        if self.stop_fault:
            raise self.stop_fault
        return True

    def startProcess(self, name, wait=True):
        self.calls.append(("start", name, wait))
        return True


class FakeProber:
    def __init__(self, silent=(), stats=None, active=None, ready=None):
        self.silent = set(silent)
        self._stats = stats or {}
        self._active = active or {}
        self._ready = ready or {}
        self.asked: list[tuple[str, object]] = []

    def ping(self, nodes):
        self.asked.append(("ping", list(nodes)))
        return {n for n in nodes if n not in self.silent}

    def stats(self, nodes):
        self.asked.append(("stats", nodes))
        return {n: v for n, v in self._stats.items() if nodes is None or n in nodes}

    def active(self, nodes):
        return {n: self._active.get(n, 0) for n in nodes}

    def ready(self, queues):
        return {q: self._ready[q] for q in queues if q in self._ready}


def info(group, name, state="RUNNING", uptime=3600):
    return {"group": group, "name": name, "statename": state,
            "start": NOW - uptime if state == "RUNNING" else 0, "now": NOW}


def bulk_infos():
    return [info("celery-bulk", f"celery-bulk-{i:02d}") for i in range(3)] + [
        info("celery-default", "celery-default-00"),
        info("celery-beat", "celery-beat"),  # beat is never a candidate
        info("nginx", "nginx"),  # foreign programs are ignored
    ]


OPTS = wd.RunOptions(hostname=HOST)


def test_lists_only_fleet_processes_with_their_node_names():
    procs = wd.list_processes(bulk_infos(), TOPOLOGY, HOST)
    assert [(p.name, p.node) for p in procs] == [
        ("celery-bulk:celery-bulk-00", "bulk-00@w1"),
        ("celery-bulk:celery-bulk-01", "bulk-01@w1"),
        ("celery-bulk:celery-bulk-02", "bulk-02@w1"),
        ("celery-default:celery-default-00", "default-00@w1"),
    ]
    assert procs[0].uptime == 3600


def test_sigstopped_process_is_the_only_one_restarted():
    sup, prober, state = FakeSupervisor(bulk_infos()), FakeProber(silent={"bulk-01@w1"}), st.State()
    first = wd.run_once(TOPOLOGY, sup, prober, state, NOW, OPTS)
    assert sup.calls == []  # first miss only starts the clock
    assert {r.process: r.decision.action for r in first}["celery-bulk:celery-bulk-01"] == "ok"

    sup.infos = [{**i, "now": NOW + 130} for i in sup.infos]
    reports = wd.run_once(TOPOLOGY, sup, prober, state, NOW + 130, OPTS)
    assert sup.calls == [("stop", "celery-bulk:celery-bulk-01", True),
                         ("start", "celery-bulk:celery-bulk-01", True)]
    actions = {r.process: r.decision.action for r in reports}
    assert actions == {"celery-bulk:celery-bulk-00": "ok", "celery-bulk:celery-bulk-01": "restart",
                       "celery-bulk:celery-bulk-02": "ok", "celery-default:celery-default-00": "ok"}
    line = next(r for r in reports if r.decision.action == "restart").line()
    assert line == ("watchdog: celery-bulk:celery-bulk-01 (bulk-01@w1) restart: "
                    "no ping reply for 130 s (threshold 120 s)")
    assert state.processes["celery-bulk:celery-bulk-01"].restarts == (NOW + 130,)


def test_dry_run_reports_but_calls_nothing():
    sup, prober, state = FakeSupervisor(bulk_infos()), FakeProber(silent={"bulk-01@w1"}), st.State()
    opts = replace(OPTS, dry_run=True, rules=rules.Options(unresponsive_after=0))
    reports = wd.run_once(TOPOLOGY, sup, prober, state, NOW, opts)
    assert sup.calls == []
    restart = [r for r in reports if r.decision.action == "restart"]
    assert [r.process for r in restart] == ["celery-bulk:celery-bulk-01"]
    assert restart[0].line().startswith("watchdog: [dry-run] celery-bulk:celery-bulk-01 ")
    # Nothing was restarted, so nothing counts toward backoff.
    assert state.processes["celery-bulk:celery-bulk-01"].restarts == ()


def test_repeated_restarts_back_off_across_runs():
    sup, prober, state = FakeSupervisor(bulk_infos()), FakeProber(silent={"bulk-00@w1"}), st.State()
    opts = replace(OPTS, rules=rules.Options(unresponsive_after=0))
    actions = []
    for run in range(4):
        now = NOW + run * 120
        # The restarted process is up again but still silent (uptime past the grace).
        sup.infos = [{**i, "now": now, "start": now - 90} for i in bulk_infos()]
        reports = wd.run_once(TOPOLOGY, sup, prober, state, now, opts)
        actions.append(next(r.decision.action for r in reports if r.node == "bulk-00@w1"))
    assert actions == ["restart", "restart", "restart", "backoff"]
    assert sum(1 for c in sup.calls if c[0] == "stop") == 3


def test_stalled_process_restarted_when_a_local_peer_progressed():
    sup, state = FakeSupervisor(bulk_infos()), st.State()
    counts = {"bulk-00@w1": 10, "bulk-01@w1": 10, "bulk-02@w1": 10, "default-00@w1": 0}
    decisions = []
    for step in range(12):  # one run a minute; bulk-02 never moves, bulk-00/01 do
        now = NOW + step * 60
        sup.infos = [{**i, "now": now} for i in bulk_infos()]
        counts["bulk-00@w1"] += 1
        counts["bulk-01@w1"] += 1
        prober = FakeProber(stats={n: (c, 3600 + step * 60) for n, c in counts.items()},
                            ready={"bulk": 40, "default": 0})
        reports = wd.run_once(TOPOLOGY, sup, prober, state, now, OPTS)
        decisions.append(next(r.decision for r in reports if r.node == "bulk-02@w1"))
    # First seen at step 0, stalled 600 s at step 10; after the restart it is observed afresh.
    assert [d.action for d in decisions] == ["ok"] * 10 + ["restart", "ok"]
    assert "peers progressed" in decisions[10].reason
    assert [c[:2] for c in sup.calls] == [("stop", "celery-bulk:celery-bulk-02"),
                                          ("start", "celery-bulk:celery-bulk-02")]
    assert {r.decision.action for r in reports if r.node != "bulk-02@w1"} == {"ok"}


def test_progress_on_unrelated_queues_does_not_count_as_peer_progress():
    infos = [info("celery-bulk", "celery-bulk-00"), info("celery-default", "celery-default-00")]
    sup, state = FakeSupervisor(infos), st.State()
    for step in range(12):
        now = NOW + step * 60
        sup.infos = [{**i, "now": now} for i in infos]
        # default-00 progresses, but it consumes "default", not bulk-00's "bulk".
        prober = FakeProber(stats={"bulk-00@w1": (7, 3600), "default-00@w1": (step, 3600)},
                            ready={"bulk": 3, "default": 3})
        wd.run_once(TOPOLOGY, sup, prober, state, now, OPTS)
    assert sup.calls == []


def test_stalled_but_busy_process_is_never_restarted():
    sup, state = FakeSupervisor(bulk_infos()), st.State()
    for step in range(12):
        now = NOW + step * 60
        sup.infos = [{**i, "now": now} for i in bulk_infos()]
        prober = FakeProber(stats={"bulk-00@w1": (step, 0), "bulk-02@w1": (5, 0)},
                            active={"bulk-02@w1": 1}, ready={"bulk": 40})
        wd.run_once(TOPOLOGY, sup, prober, state, now, OPTS)
    assert sup.calls == []


def test_cluster_peers_count_progress_on_other_hosts():
    infos = [info("celery-bulk", "celery-bulk-00")]
    sup, state = FakeSupervisor(infos), st.State()
    opts = replace(OPTS, cluster_peers=True)
    for step in range(12):
        now = NOW + step * 60
        sup.infos = [{**i, "now": now} for i in infos]
        prober = FakeProber(stats={"bulk-00@w1": (7, 3600), "bulk-00@w2": (step, 3600 + step * 60),
                                   "other-00@w3": (step, 100)},
                            ready={"bulk": 3})
        wd.run_once(TOPOLOGY, sup, prober, state, now, opts)
        assert ("stats", None) in prober.asked  # broadcast, not only local nodes
    assert [c[:2] for c in sup.calls] == [("stop", "celery-bulk:celery-bulk-00"),
                                          ("start", "celery-bulk:celery-bulk-00")]
    assert "bulk-00@w2" in state.peers and "other-00@w3" not in state.peers


def test_local_peers_only_never_restart_a_lone_stalled_process():
    infos = [info("celery-bulk", "celery-bulk-00")]
    sup, state = FakeSupervisor(infos), st.State()
    for step in range(12):
        now = NOW + step * 60
        sup.infos = [{**i, "now": now} for i in infos]
        prober = FakeProber(stats={"bulk-00@w1": (7, 3600), "bulk-00@w2": (step, 3600)},
                            ready={"bulk": 3})
        wd.run_once(TOPOLOGY, sup, prober, state, now, OPTS)
    assert sup.calls == []


def test_failed_restart_is_reported_and_still_counts():
    fault = xmlrpc.client.Fault(10, "BAD_NAME")
    sup = FakeSupervisor(bulk_infos(), stop_fault=fault)
    state, emitted, saved = st.State(), [], []
    opts = replace(OPTS, rules=rules.Options(unresponsive_after=0))
    reports = wd.run_once(TOPOLOGY, sup, FakeProber(silent={"bulk-02@w1"}), state, NOW, opts,
                          checkpoint=lambda s: saved.append(st.to_json(s)), emit=emitted.append)
    failed = [r for r in reports if r.error]
    assert [r.process for r in failed] == ["celery-bulk:celery-bulk-02"]
    assert "RESTART FAILED" in failed[0].line()
    assert emitted[-1].error  # the failure is emitted after the decisions
    # The restart was written down before Supervisor was called.
    assert saved[0]["processes"]["celery-bulk:celery-bulk-02"]["restarts"] == [NOW]


def test_vanished_processes_are_forgotten():
    state = st.State(processes={"celery-bulk:celery-bulk-09": rules.History(restarts=(NOW,))})
    wd.run_once(TOPOLOGY, FakeSupervisor(bulk_infos()), FakeProber(), state, NOW, OPTS)
    assert "celery-bulk:celery-bulk-09" not in state.processes
    assert "celery-bulk:celery-bulk-00" in state.processes


def test_state_roundtrips_through_the_file(tmp_path):
    path = tmp_path / "sub" / "watchdog.json"
    state = st.State(
        processes={"celery-bulk:celery-bulk-00": rules.History(
            NOW - 5, rules.Progress(3, NOW - 10, NOW - 100, NOW - 10), (NOW - 50,))},
        peers={"bulk-00@w2": (rules.Progress(1, NOW, NOW - 9), NOW)},
    )
    st.save(path, state)
    loaded, warning = st.load(path)
    assert warning is None
    assert loaded == state
    assert [p.name for p in path.parent.iterdir()] == ["watchdog.json"]  # no temp file left


def test_corrupt_state_file_starts_afresh(tmp_path):
    path = tmp_path / "watchdog.json"
    path.write_text("{not json")
    state, warning = st.load(path)
    assert state == st.State()
    assert "starting afresh" in warning


def test_state_directory_is_created_private(tmp_path):
    path = tmp_path / "wd" / "state.json"
    st.save(path, st.State())
    assert path.parent.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("use", ["load", "save", "lock"])
def test_a_directory_others_can_write_is_refused(tmp_path, use):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # what a worker-owned or group-writable directory allows
    path = shared / "state.json"
    with pytest.raises(st.StateError, match="writable by group/others"):
        if use == "load":
            st.load(path)
        elif use == "save":
            st.save(path, st.State())
        else:
            with st.locked(path):
                pass


def test_a_symlinked_state_directory_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "wd").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(st.StateError, match="not a directory"):
        st.save(tmp_path / "wd" / "state.json", st.State())


@pytest.mark.parametrize("name", ["state.json", "state.json.lock"])
def test_a_symlink_planted_as_state_or_lock_file_is_not_followed(tmp_path, name):
    target = tmp_path / "target"
    target.write_text("untouched")
    (tmp_path / "wd").mkdir(mode=0o700)
    (tmp_path / "wd" / name).symlink_to(target)
    path = tmp_path / "wd" / "state.json"
    with pytest.raises(st.StateError):
        if name == "state.json":
            st.load(path)
        else:
            with st.locked(path):
                pass
    assert target.read_text() == "untouched"


def test_save_replaces_a_planted_symlink_not_its_target(tmp_path):
    target = tmp_path / "target"
    target.write_text("untouched")
    (tmp_path / "wd").mkdir(mode=0o700)
    (tmp_path / "wd" / "state.json").symlink_to(target)
    st.save(tmp_path / "wd" / "state.json", st.State())
    assert target.read_text() == "untouched"
    assert not (tmp_path / "wd" / "state.json").is_symlink()


def test_lock_refuses_a_second_concurrent_run(tmp_path):
    path = tmp_path / "watchdog.json"
    with st.locked(path) as first, st.locked(path) as second:
        assert (first, second) == (True, False)


# --- the command ------------------------------------------------------------

def parse(*argv):
    parser = argparse.ArgumentParser()
    wd.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture
def broker_env(monkeypatch):
    # Settings need a broker URL; nothing connects to it in these tests.
    monkeypatch.setenv("CELERY_STACK_BROKER_URL", "amqp://u:p@127.0.0.1:1//")
    monkeypatch.delenv("CELERY_STACK_RESULT_BACKEND", raising=False)
    monkeypatch.delenv("CELERY_STACK_REDIS_HOST", raising=False)


def test_defaults_and_env(monkeypatch):
    monkeypatch.setenv("CELERY_STACK_SUPERVISOR_URL", "http://h:9001/RPC2")
    args = parse()
    assert args.supervisor_url == "http://h:9001/RPC2"
    assert (args.unresponsive_after, args.stalled_after, args.max_restarts,
            args.restart_window, args.ping_timeout, args.startup_grace) == (
        120, 600, 3, 1800, 5, 60)
    assert args.state_file == "/var/lib/celery-stack-watchdog/state.json"
    assert not args.dry_run and args.peers == "local"


def test_negative_thresholds_are_rejected():
    with pytest.raises(SystemExit):
        parse("--unresponsive-after", "-1")


def test_unreadable_topology_is_a_config_error(tmp_path, capsys):
    assert wd.run(parse("--topology", str(tmp_path / "nope.yml"))) == 2
    assert "cannot read" in capsys.readouterr().err


def test_unreachable_supervisor_names_the_url(tmp_path, capsys, broker_env):
    url = f"unix://{tmp_path}/missing.sock"
    code = wd.run(parse("--supervisor-url", url, "--state-file", str(tmp_path / "s.json")))
    assert code == 2
    assert f"cannot reach Supervisor at {url}" in capsys.readouterr().err


def test_missing_broker_settings_is_a_config_error(tmp_path, capsys, monkeypatch):
    for var in ("CELERY_STACK_BROKER_URL", "CELERY_STACK_BROKER_HOSTS"):
        monkeypatch.delenv(var, raising=False)
    assert wd.run(parse("--state-file", str(tmp_path / "s.json"))) == 2
    assert "CELERY_STACK_BROKER" in capsys.readouterr().err


def test_full_run_restarts_and_persists(tmp_path, capsys, broker_env, monkeypatch):
    sup = FakeSupervisor([info("celery-default", "celery-default-00"),
                          info("celery-bulk", "celery-bulk-00")])
    monkeypatch.setattr(wd.supervisor_rpc, "connect", lambda url, timeout=None: sup)
    monkeypatch.setattr(wd.probes, "CeleryProber",
                        lambda app, timeout: FakeProber(silent={"default-00@w1"}))
    monkeypatch.setattr(wd.time, "time", lambda: NOW)
    state_file = tmp_path / "state" / "watchdog.json"
    args = parse("--hostname", HOST, "--state-file", str(state_file), "--unresponsive-after", "0",
                 "--quiet")
    assert wd.run(args) == 0
    assert [c[:2] for c in sup.calls] == [("stop", "celery-default:celery-default-00"),
                                          ("start", "celery-default:celery-default-00")]
    out = capsys.readouterr().out.splitlines()
    assert out == ["watchdog: celery-default:celery-default-00 (default-00@w1) restart: "
                   "no ping reply for 0 s (threshold 0 s)"]  # --quiet hides the ok line
    saved = json.loads(state_file.read_text())
    assert saved["processes"]["celery-default:celery-default-00"]["restarts"] == [NOW]


def test_broker_failure_restarts_nothing(tmp_path, capsys, broker_env, monkeypatch):
    sup = FakeSupervisor(bulk_infos())

    class Down(FakeProber):
        def ping(self, nodes):
            raise wd.probes.ProbeError("ping: OperationalError: connection refused")

    monkeypatch.setattr(wd.supervisor_rpc, "connect", lambda url, timeout=None: sup)
    monkeypatch.setattr(wd.probes, "CeleryProber", lambda app, timeout: Down())
    args = parse("--hostname", HOST, "--state-file", str(tmp_path / "s.json"),
                 "--unresponsive-after", "0")
    assert wd.run(args) == 1
    assert sup.calls == []
    assert "no process was restarted" in capsys.readouterr().err


def test_every_process_silent_at_once_restarts_nothing_and_says_why(capsys):
    everyone = {"bulk-00@w1", "bulk-01@w1", "bulk-02@w1", "default-00@w1"}
    sup, prober, state = FakeSupervisor(bulk_infos()), FakeProber(silent=everyone), st.State()
    wd.run_once(TOPOLOGY, sup, prober, state, NOW, OPTS)
    sup.infos = [{**i, "now": NOW + 130} for i in sup.infos]
    reports = wd.run_once(TOPOLOGY, sup, prober, state, NOW + 130, OPTS,
                          emit=lambda r: wd._emit(r, quiet=True))
    assert sup.calls == []
    assert {r.decision.action for r in reports} == {"hold"}
    assert all(state.processes[r.process].restarts == () for r in reports)
    printed = capsys.readouterr().out.splitlines()
    # --quiet (cron) still logs why nothing was restarted.
    assert len(printed) == 4
    assert printed[0].endswith("no ping reply for 130 s (threshold 120 s); but all 4 processes on "
                               "this host are silent at once (broker, network or host trouble, "
                               "not one hung worker): restarting nothing")


def test_one_answering_process_is_enough_to_restart_the_silent_ones():
    silent = {"bulk-00@w1", "bulk-01@w1", "bulk-02@w1"}
    sup, prober, state = FakeSupervisor(bulk_infos()), FakeProber(silent=silent), st.State()
    wd.run_once(TOPOLOGY, sup, prober, state, NOW, OPTS)
    sup.infos = [{**i, "now": NOW + 130} for i in sup.infos]
    reports = wd.run_once(TOPOLOGY, sup, prober, state, NOW + 130, OPTS)
    assert sorted(r.process for r in reports if r.decision.action == "restart") == [
        "celery-bulk:celery-bulk-00", "celery-bulk:celery-bulk-01", "celery-bulk:celery-bulk-02"]


def test_a_lone_silent_process_is_still_restarted():
    lone = Topology(app=TOPOLOGY.app, queues=TOPOLOGY.queues, fleets=(TOPOLOGY.fleets[1],))
    infos = [info("celery-default", "celery-default-00")]
    sup, prober, state = FakeSupervisor(infos), FakeProber(silent={"default-00@w1"}), st.State()
    wd.run_once(lone, sup, prober, state, NOW, OPTS)
    sup.infos = [{**i, "now": NOW + 130} for i in sup.infos]
    reports = wd.run_once(lone, sup, prober, state, NOW + 130, OPTS)
    assert [r.decision.action for r in reports] == ["restart"]


def test_a_reply_from_a_young_process_shows_the_broker_path_works():
    infos = [*bulk_infos()[:2], info("celery-bulk", "celery-bulk-02", uptime=10)]
    silent = {"bulk-00@w1", "bulk-01@w1"}
    sup, prober, state = FakeSupervisor(infos), FakeProber(silent=silent), st.State()
    wd.run_once(TOPOLOGY, sup, prober, state, NOW, OPTS)
    # Second pass 130 s later; the young process restarted meanwhile (still in its grace).
    sup.infos = [{**i, "now": NOW + 130} for i in infos[:2]] + [
        {**infos[2], "start": NOW + 120, "now": NOW + 130}]
    reports = wd.run_once(TOPOLOGY, sup, prober, state, NOW + 130, OPTS)
    actions = {r.process: r.decision.action for r in reports}
    assert actions == {"celery-bulk:celery-bulk-00": "restart",
                       "celery-bulk:celery-bulk-01": "restart",
                       "celery-bulk:celery-bulk-02": "skip"}


def test_a_silent_young_process_counts_toward_host_wide_silence():
    infos = [info("celery-bulk", "celery-bulk-00"),
             info("celery-bulk", "celery-bulk-01", uptime=10)]
    silent = {"bulk-00@w1", "bulk-01@w1"}
    sup, prober, state = FakeSupervisor(infos), FakeProber(silent=silent), st.State()
    wd.run_once(TOPOLOGY, sup, prober, state, NOW, OPTS)
    sup.infos = [{**infos[0], "now": NOW + 130},
                 {**infos[1], "start": NOW + 120, "now": NOW + 130}]
    reports = wd.run_once(TOPOLOGY, sup, prober, state, NOW + 130, OPTS)
    actions = {r.process: r.decision.action for r in reports}
    assert actions == {"celery-bulk:celery-bulk-00": "hold", "celery-bulk:celery-bulk-01": "skip"}
    assert sup.calls == []
