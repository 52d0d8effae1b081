"""Every pool the topology accepts can run; settings a pool ignores are refused.

Semantics read from celery 5.7.0's celery/concurrency (topology/pools.py says
where): gevent enforces only the hard limit, threads/gevent/solo have no child
processes to recycle, eventlet is not installed.
"""

from __future__ import annotations

import importlib

import pytest


def _fleet(base, **settings):
    base["fleets"][1].update(settings)
    return base


def test_eventlet_is_refused_naming_the_fleet_and_the_fix(base, errors_of):
    errors = errors_of(_fleet(base, pool="eventlet", soft_time_limit=None))
    assert len(errors) == 1, errors
    assert errors[0].startswith("fleets[1].pool: fleet 'bulk' asks for 'eventlet'")
    assert "use pool: gevent" in errors[0]


@pytest.mark.parametrize("pool", ["threads", "gevent", "solo"])
@pytest.mark.parametrize("key,value", [("max_tasks_per_child", 10),
                                       ("max_memory_per_child", 524288)])
def test_child_recycling_is_refused_where_there_are_no_children(base, errors_of, pool, key,
                                                               value):
    errors = errors_of(_fleet(base, pool=pool, soft_time_limit=None, **{key: value}))
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"fleets[1].{key}: fleet 'bulk' uses pool '{pool}'")


def test_child_recycling_stays_on_prefork(base, build):
    fleet = build(_fleet(base, max_tasks_per_child=10, max_memory_per_child=524288)).fleets[1]
    assert (fleet.max_tasks_per_child, fleet.max_memory_per_child) == (10, 524288)


def test_omitted_recycling_is_not_carried_to_a_pool_without_children(base, build):
    # The schema's default (1000 tasks) is prefork's: a threads fleet gets none.
    assert build(_fleet(base, pool="threads")).fleets[1].max_tasks_per_child is None
    assert build(base).fleets[0].max_tasks_per_child == 1000


def test_gevent_refuses_a_soft_limit_it_would_ignore(base, errors_of):
    errors = errors_of(_fleet(base, pool="gevent"))  # bulk: soft 50, hard 60
    assert len(errors) == 1, errors
    assert errors[0].startswith("fleets[1].soft_time_limit: fleet 'bulk' uses pool 'gevent'")


def test_gevent_keeps_the_hard_limit(base, build):
    assert build(_fleet(base, pool="gevent", soft_time_limit=None)).fleets[1].time_limit == 60


def test_packaged_topology_runs_a_threads_and_a_gevent_fleet(default_raw):
    pools = {f.get("pool", "prefork") for f in default_raw["fleets"]}
    assert {"prefork", "threads", "gevent"} <= pools


@pytest.mark.parametrize("module", ["gevent", "celery.concurrency.gevent",
                                    "celery.concurrency.thread"])
def test_the_pool_libraries_are_installed(module):
    # The package depends on them (pyproject.toml); a missing one crash-loops
    # the fleet at `make up` with "No module named 'gevent'".
    importlib.import_module(module)
