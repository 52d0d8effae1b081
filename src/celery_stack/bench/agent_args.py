"""Command line of the bench agent (python -m celery_stack.bench.agent)."""

from __future__ import annotations

import argparse


def build_parser(publishers: int) -> argparse.ArgumentParser:
    """The agent's commands and their options (``publishers``: the throughput default)."""
    parser = argparse.ArgumentParser(prog="celery_stack.bench.agent")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("wait-workers")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--timeout", type=float, default=180)
    p = sub.add_parser("throughput")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--publishers", type=int, default=publishers)
    p = sub.add_parser("hol")
    p.add_argument("--bulk-n", type=int, required=True)
    p.add_argument("--bulk-seconds", type=float, required=True)
    p.add_argument("--prio-n", type=int, required=True)
    p.add_argument("--prio-interval", type=float, default=0.2)
    p.add_argument("--prio-seconds", type=float, default=0.01)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--timeout", type=float, default=300)
    p = sub.add_parser("idle")
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--reps", type=int, default=3)
    p = sub.add_parser("settle")
    p.add_argument("--seconds", type=float, required=True)
    p = sub.add_parser("seq")
    p.add_argument("steps", nargs="+", help="commands, each one quoted argument")
    p = sub.add_parser("storm")
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--detach-at", type=float, required=True)
    p.add_argument("--idle-seconds", type=float, default=20)
    p.add_argument("--sample", type=float, default=10)
    sub.add_parser("drain")
    sub.add_parser("monitor")
    return parser
