"""``celery-stack`` command line: exit codes and messages, called in-process."""

from __future__ import annotations

import configparser
import json
from pathlib import Path

import pytest
import yaml

from celery_stack import cli
from celery_stack.topology import default_path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "topologies"
VALID = sorted(str(p) for p in EXAMPLES.glob("*.yml") if not p.name.startswith("invalid-"))
BROKER_ENV = {
    "CELERY_STACK_BROKER_HOSTS": "haproxy:5672,rabbit-1:5672",
    "CELERY_STACK_BROKER_USER": "app",
    "CELERY_STACK_BROKER_PASSWORD": "pa@ss/w:rd",
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    # The CLI reads CELERY_STACK_* from the environment: start from none.
    for name in ("CELERY_STACK_TOPOLOGY", "CELERY_STACK_BROKER_URL", "CELERY_STACK_BROKER_HOSTS",
                 "CELERY_STACK_BROKER_USER", "CELERY_STACK_BROKER_PASSWORD",
                 "CELERY_STACK_BROKER_PASSWORD_FILE", "CELERY_STACK_RESULT_BACKEND",
                 "CELERY_STACK_REDIS_HOST"):
        monkeypatch.delenv(name, raising=False)


def test_validate_good_files_exit_0(capsys):
    files = [str(default_path()), *VALID]
    assert cli.main(["validate", *files]) == 0
    out = capsys.readouterr().out
    for f in files:
        assert f"{f}: ok" in out


def test_validate_bad_file_exits_1_and_lists_every_error(capsys):
    bad = str(EXAMPLES / "invalid-five-mistakes.yml")
    assert cli.main(["validate", bad]) == 1
    captured = capsys.readouterr()
    assert "ok" not in captured.out
    assert f"{bad}: 5 error(s)" in captured.err
    for field in ("broker.rabbitmq_version", "routes[0].queue", "fleets[0].soft_time_limit",
                  "fleets[1].autoscale", "beat.schedule[0].cron"):
        assert f"- {field}:" in captured.err


def test_validate_mixed_files_checks_all_and_exits_1(capsys):
    bad = str(EXAMPLES / "invalid-five-mistakes.yml")
    assert cli.main(["validate", bad, VALID[0]]) == 1
    assert f"{VALID[0]}: ok" in capsys.readouterr().out


def test_validate_invalid_yaml(tmp_path, capsys):
    path = tmp_path / "broken.yml"
    path.write_text("fleets:\n  - name: [unclosed\n", encoding="utf-8")
    assert cli.main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and "not valid YAML" in err


def test_validate_missing_path(tmp_path, capsys):
    path = tmp_path / "missing.yml"
    assert cli.main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and "cannot read" in err


def test_render_with_bad_topology_exits_2(capsys):
    bad = str(EXAMPLES / "invalid-five-mistakes.yml")
    assert cli.main(["render", "summary", "--topology", bad]) == 2
    assert "5 error(s)" in capsys.readouterr().err


def test_render_summary_states_the_shutdown_budget(capsys):
    assert cli.main(["render", "summary"]) == 0
    summary = json.loads(capsys.readouterr().out)
    raw = yaml.safe_load(default_path().read_text(encoding="utf-8"))
    assert set(summary["fleets"]) == {f["name"] for f in raw["fleets"]}
    waits = [f["stop_wait"] for f in summary["fleets"].values()]
    assert summary["longest_stop_wait"] == max(waits)
    assert summary["container_grace_period"] > summary["longest_stop_wait"]


def test_render_supervisor_for_one_fleet(capsys):
    assert cli.main(["render", "supervisor", "--fleets", "bulk", "--beat"]) == 0
    parser = configparser.RawConfigParser(interpolation=None)
    parser.read_string(capsys.readouterr().out)
    assert sorted(parser.sections()) == ["program:celery-beat", "program:celery-bulk"]


def test_render_supervisor_unknown_fleet_exits_2(capsys):
    assert cli.main(["render", "supervisor", "--fleets", "bulk,nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_render_rabbitmq_is_json_definitions(capsys):
    assert cli.main(["render", "rabbitmq", "--vhost", "media"]) == 0
    defs = json.loads(capsys.readouterr().out)
    assert {q["vhost"] for q in defs["queues"]} == {"media"}


def test_render_celery_settings_without_broker_env_exits_2(capsys):
    assert cli.main(["render", "celery-settings"]) == 2
    assert "CELERY_STACK_BROKER_HOSTS" in capsys.readouterr().err


def test_render_celery_settings_never_prints_the_password(monkeypatch, capsys):
    for k, v in BROKER_ENV.items():
        monkeypatch.setenv(k, v)
    assert cli.main(["render", "celery-settings", "--fleet", "bulk"]) == 0
    out = capsys.readouterr().out
    settings = json.loads(out)
    assert settings["task_acks_late"] is True
    assert len(settings["broker_url"]) == 2
    assert "pa@ss" not in out and "pa%40ss" not in out
