"""The agent's `seq` command: several measurements in one agent process, in order."""

import pytest

from celery_stack.bench import agent
from celery_stack.bench.agent_args import build_parser


def test_seq_runs_each_step_in_order_and_returns_every_result(monkeypatch):
    calls = []
    monkeypatch.setattr(agent, "cmd_idle", lambda app, a: calls.append(("idle", a.seconds))
                        or {"reps": [a.seconds]})
    a = build_parser(agent.PUBLISHERS).parse_args(
        ["seq", "settle --seconds 0", "idle --seconds 7 --reps 1"])
    result = agent.cmd_seq(object(), a)
    assert result == {"seq": [{"settled_s": 0.0}, {"reps": [7.0]}]}
    assert calls == [("idle", 7.0)]


@pytest.mark.parametrize("step", ["monitor", "drain", "seq settle"])
def test_seq_refuses_steps_that_never_end_or_nest(step):
    a = build_parser(agent.PUBLISHERS).parse_args(["seq", step])
    with pytest.raises(SystemExit, match="cannot be a step"):
        agent.cmd_seq(object(), a)
