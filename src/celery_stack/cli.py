"""``celery-stack`` command line: validate, check-env, render derived configs, smoke, watchdog.

The compose images and the Ansible roles reach every derivation through this
package (images: this CLI at build/start; Ansible: a filter plugin importing
the same functions on the controller), so there is exactly one implementation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .derive import celery_settings, compose, rabbitmq, rabbitmq_users, supervisor
from .derive.connections import SettingsError
from .topology import TopologyError, load


def _topology_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--topology", "-t", default=os.environ.get("CELERY_STACK_TOPOLOGY"),
                   help="topology YAML (default: $CELERY_STACK_TOPOLOGY or the demo topology)")


def cmd_validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.files:
        try:
            load(path)
        except TopologyError as exc:
            print(exc, file=sys.stderr)
            failed += 1
        else:
            print(f"{path}: ok")
    return 1 if failed else 0


def cmd_render(args: argparse.Namespace) -> int:
    topology = load(args.topology)
    if args.what == "supervisor":
        paths = supervisor.Paths(
            celery_bin=args.celery_bin, celery_stack_bin=args.celery_stack_bin,
            topology_file=args.topology_file or args.topology,
            log_dir=args.log_dir, user=args.user, directory=args.directory,
            beat_schedule_file=args.beat_schedule_file,
            env_file_vars=tuple(tuple(e.split("=", 1)) for e in args.env),
        )
        fleets = None  # all
        if args.fleets == "none":
            fleets = []
        elif args.fleets:
            fleets = [f for f in args.fleets.split(",") if f]
            unknown = sorted(set(fleets) - {f.name for f in topology.fleets})
            if unknown:
                print(f"--fleets: unknown fleet(s) {', '.join(unknown)}", file=sys.stderr)
                return 2
        sys.stdout.write(supervisor.render(topology, paths, fleets, beat=args.beat,
                                           watchdog_interval=args.watchdog_interval))
    elif args.what == "rabbitmq":
        doc = rabbitmq.definitions(topology, args.vhost)
        if args.rabbitmq_user:
            users = [rabbitmq_users.parse_user_spec(s) for s in args.rabbitmq_user]
            doc = rabbitmq_users.merge(rabbitmq_users.definitions(args.vhost, users), doc)
        print(json.dumps(doc, indent=2, sort_keys=True))
    elif args.what == "celery-settings":
        settings = celery_settings.build(topology, os.environ, args.fleet)
        print(json.dumps(celery_settings.redacted(settings), indent=2, sort_keys=True,
                         default=str))
    elif args.what == "compose":
        sys.stdout.write(compose.render(topology))
    elif args.what == "summary":
        print(json.dumps(summary(topology), indent=2, sort_keys=True))
    return 0


def summary(topology) -> dict:
    """Facts other tools need (compose wiring, shutdown budget), as data."""
    return {
        "app_module": topology.app.module,
        "queues": [q.name for q in topology.queues],
        "fleets": {f.name: {"queues": list(f.queues), "program": f.program,
                            "processes": f.processes, "stop_wait": f.stop_wait}
                   for f in topology.fleets},
        "beat": topology.beat.enabled,
        "container_grace_period": topology.container_grace_period(),
        "longest_stop_wait": topology.longest_stop_wait,
    }


def cmd_smoke(args: argparse.Namespace) -> int:
    from . import smoke

    topology = load(args.topology)
    results = smoke.run(topology, timeout=args.timeout)
    print(smoke.table(results))
    bad = [r.queue for r in results if not r.ok]
    if bad:
        print(f"smoke: FAILED for queue(s): {', '.join(bad)}", file=sys.stderr)
        return 1
    print(f"smoke: every queue ({len(results)}) served by its own fleet")
    return 0


def cmd_secrets(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import secrets

    directory = Path(args.directory)
    if args.action == "ensure":
        created = secrets.ensure(directory)
        if created:
            # Names only: a secret value is never printed.
            print(f"secrets: generated {', '.join(created)} in {directory}")
    problems = secrets.check(directory)
    for problem in problems:
        print(f"secrets: {problem}", file=sys.stderr)
    return 1 if problems else 0


def cmd_check_env(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import envcheck

    directory = args.secrets or os.environ.get("CELERY_STACK_SECRETS_DIR")
    problems = envcheck.check(os.environ, Path(directory) if directory else None)
    for problem in problems:
        print(f"check-env: {problem}", file=sys.stderr)
    if problems:
        print(f"check-env: {len(problems)} problem(s); nothing was started or changed",
              file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="celery-stack", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check topology files; list every error")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("render", help="print a config derived from the topology")
    p.add_argument("what", choices=["supervisor", "rabbitmq", "celery-settings", "summary",
                                     "compose"])
    _topology_arg(p)
    p.add_argument("--fleets", help="supervisor: comma-separated fleets, or 'none' "
                   "(default: all)")
    p.add_argument("--watchdog-interval", type=int, default=0, metavar="S",
                   help="supervisor: add the watchdog as a program running every S seconds")
    p.add_argument("--celery-stack-bin", default="celery-stack",
                   help="supervisor: path of celery-stack (watchdog program)")
    p.add_argument("--beat", action="store_true", help="supervisor: add the beat program")
    p.add_argument("--celery-bin", default="celery", help="supervisor: path of celery")
    p.add_argument("--topology-file", help="supervisor: topology path on the target host")
    p.add_argument("--log-dir", help="supervisor: log directory (default: stdout)")
    p.add_argument("--user", help="supervisor: run programs as this user")
    p.add_argument("--directory", help="supervisor: working directory")
    p.add_argument("--beat-schedule-file", default=supervisor.Paths.beat_schedule_file)
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="supervisor: extra environment for every program (repeatable)")
    p.add_argument("--vhost", default="/", help="rabbitmq: virtual host")
    p.add_argument("--rabbitmq-user", action="append", default=[],
                   metavar="NAME:ROLE:PASSWORD_FILE",
                   help="rabbitmq: add a user (application|monitoring|admin) with a salted "
                        "SHA-256 hash of PASSWORD_FILE's content (repeatable)")
    p.add_argument("--fleet", help="celery-settings: settings as seen by this fleet")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("smoke", help="probe every queue; fail unless its own fleet serves it")
    _topology_arg(p)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds for all probes")
    p.set_defaults(func=cmd_smoke)

    p = sub.add_parser("secrets", help="generate missing secret files (0600) or check them")
    p.add_argument("action", choices=["ensure", "check"])
    p.add_argument("directory")
    p.set_defaults(func=cmd_secrets)

    p = sub.add_parser("check-env", help="check the compose environment and secret files "
                       "before anything starts; list every problem")
    p.add_argument("--secrets", metavar="DIR",
                   help="secret files to check (default: $CELERY_STACK_SECRETS_DIR; none: skip)")
    p.set_defaults(func=cmd_check_env)

    from .watchdog import run as watchdog

    p = sub.add_parser("watchdog", help="restart hung worker processes through Supervisor")
    watchdog.add_arguments(p)  # its own --topology, same default as the others
    p.set_defaults(func=watchdog.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (TopologyError, SettingsError) as exc:
        print(f"celery-stack: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
