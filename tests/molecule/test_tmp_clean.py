"""tmp-clean's inode path: past the inode threshold, the short age applies; below it, not.

The command is the one cron runs, taken from /etc/cron.d/celery-stack-tmp-clean
on the host, with its directories replaced by a small tmpfs with few inodes.
Ages come from the same line (-m normal, -a short, -t threshold).
"""

import math
import shlex

from infra import first

testinfra_hosts = [first("rabbitmq")]
CRON = "/etc/cron.d/celery-stack-tmp-clean"
MOUNT = "/mnt/celery-stack-inode-check"
INODES = 64
OPTIONS_WITH_VALUE = ("-m", "-a", "-t", "-x")


def cron_command(host) -> tuple[list[str], dict[str, int]]:
    """The job's argv without its directories, and its -m/-a/-t values."""
    lines = [x for x in host.file(CRON).content_string.splitlines()
             if x.strip() and not x.startswith("#") and "=" not in x.split()[0]]
    assert len(lines) == 1, lines
    argv = shlex.split(lines[0])[6:]  # five schedule fields, then the user
    i, values = 1, {}
    while i < len(argv) and argv[i].startswith("-"):
        if argv[i] in OPTIONS_WITH_VALUE:
            values.setdefault(argv[i], argv[i + 1])
            i += 2
        else:
            i += 1
    assert argv[i:], f"no directory on the cron line: {argv}"
    return argv[:i], {k: int(values[k]) for k in ("-m", "-a", "-t")}


def inodes(host) -> tuple[int, int, int]:
    """(total, used, use %) of the test mount, as the script sees them (df -P -i)."""
    row = host.run(f"df -P -i {MOUNT}").stdout.splitlines()[1].split()
    return int(row[1]), int(row[2]), int(row[4].rstrip("%"))


def exists(host, *names: str) -> dict[str, bool]:
    return {n: host.file(f"{MOUNT}/{n}").exists for n in names}


def test_inode_pressure_makes_the_cron_job_remove_aged_files(host):
    argv, v = cron_command(host)
    normal, short, threshold = v["-m"], v["-a"], v["-t"]
    assert short < normal, v
    command = shlex.join([*argv, MOUNT])
    # Ages relative to the cron line's: older than the normal age; between the
    # two ages (removed only under inode pressure); younger than the short age.
    ages = {"old": normal + 1, "aged": (normal + short) / 2, "young": short / 2}
    result = host.run(f"mkdir -p {MOUNT} && mount -t tmpfs -o size=1m,nr_inodes={INODES} "
                      f"celery-stack-inode-check {MOUNT}")
    assert result.rc == 0, f"cannot mount a tmpfs (CAP_SYS_ADMIN?): {result.stderr}"
    try:
        for name, hours in ages.items():
            host.run(f"touch -d '{hours * 60:.0f} minutes ago' {MOUNT}/{name}")
        assert inodes(host)[2] < threshold
        result = host.run(command)
        assert result.rc == 0, result.stderr
        # Below the threshold: only the normal age applies.
        assert exists(host, "old", "aged", "young") == {"old": False, "aged": True, "young": True}

        # New files until the used inodes reach the threshold, and the old file again.
        total, used, _ = inodes(host)
        fill = math.ceil(total * threshold / 100) - used - 1
        host.run(f"touch -d '{ages['old'] * 60:.0f} minutes ago' {MOUNT}/old && "
                 f"cd {MOUNT} && seq {max(fill, 1)} | sed 's/^/fill-/' | xargs touch")
        use = inodes(host)[2]
        assert threshold <= use, f"inode use {use}% did not reach the threshold {threshold}%"
        result = host.run(command)
        assert result.rc == 0, result.stderr
        assert exists(host, "old", "aged", "young", "fill-1") == \
            {"old": False, "aged": False, "young": True, "fill-1": True}, f"inode use {use}%"
    finally:
        host.run(f"umount {MOUNT} && rmdir {MOUNT}")
