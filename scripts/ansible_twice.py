"""Run an ansible-playbook command twice: converge, then prove idempotence.

usage: ansible_twice.py RESULT_JSON|- -- ansible-playbook ARGS...

Both runs stream their output. The second run must report changed=0 for
every host in its PLAY RECAP (what `molecule idempotence` checks too); the
timings of both runs go to RESULT_JSON either way (bench's "ops speed"
figure reads it; `-` writes none), then the exit status says whether the second run changed
anything. Exit 1 names the hosts that changed and the tasks that did.
"""

import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

RECAP_LINE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
CHANGED_TASK = re.compile(r"^changed: \[([^\]]+)\]")


def run(cmd: list[str]) -> tuple[int, float, list[str]]:
    """Runs cmd, echoing its output line by line; returns rc, seconds, lines."""
    started = time.monotonic()
    lines: list[str] = []
    # cmd is the make target's own ansible-playbook command line, no shell.
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,  # noqa: S603
                          text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line.rstrip("\n"))
    return proc.returncode, round(time.monotonic() - started, 1), lines


def recap(lines: list[str]) -> dict[str, int]:
    """Host -> changed count from the PLAY RECAP; empty when there is none."""
    changed = {}
    for line in lines:
        m = RECAP_LINE.match(line)
        if m:
            changed[m.group(1)] = int(m.group(3))
    return changed


def changed_tasks(lines: list[str]) -> list[str]:
    """'TASK [...] on host' for every changed result (to name what is not idempotent)."""
    task, out = "", []
    for line in lines:
        if line.startswith("TASK ["):
            task = line.split("]", 1)[0] + "]"
        m = CHANGED_TASK.match(line)
        if m:
            out.append(f"{task} on {m.group(1)}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    result_file, cmd = (None if argv[0] == "-" else Path(argv[0])), argv[2:]

    print(f"== first run: {' '.join(cmd)}", flush=True)
    rc1, first_s, lines1 = run(cmd)
    if rc1 != 0:
        print(f"ansible_twice: the first run failed (exit {rc1}); no idempotence run",
              file=sys.stderr)
        return rc1
    print("== second run (idempotence: every host must report changed=0)", flush=True)
    rc2, second_s, lines2 = run(cmd)
    changed_first, changed_second = recap(lines1), recap(lines2)

    if result_file is not None:
        result_file.parent.mkdir(parents=True, exist_ok=True)
        result_file.write_text(json.dumps({
            "site_yml_first_s": first_s,
            "site_yml_second_s": second_s,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "changed_second": sum(changed_second.values()),
            # 0 here means the hosts already existed: the "first" run was a re-run too.
            "changed_first": sum(changed_first.values()),
            "recap_hosts": len(changed_second),
            "command": " ".join(cmd),
        }, indent=2) + "\n")
    print(f"ansible_twice: first run {first_s} s (changed={sum(changed_first.values())}), "
          f"second run {second_s} s" + (f"; timings in {result_file}" if result_file else ""))

    if rc2 != 0:
        print(f"ansible_twice: the second run failed (exit {rc2})", file=sys.stderr)
        return rc2
    if not changed_second:
        print("ansible_twice: no PLAY RECAP in the second run's output", file=sys.stderr)
        return 1
    bad = {host: n for host, n in changed_second.items() if n}
    if bad:
        print(f"ansible_twice: not idempotent, the second run changed {bad}:", file=sys.stderr)
        for task in changed_tasks(lines2):
            print(f"  {task}", file=sys.stderr)
        return 1
    print(f"ansible_twice: idempotent: changed=0 on all {len(changed_second)} hosts")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
