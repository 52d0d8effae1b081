"""Secret files: generated once, 0600, never overwritten, weak ones reported."""

import stat

from celery_stack import secrets


def test_ensure_creates_every_secret_private_and_strong(tmp_path):
    created = secrets.ensure(tmp_path / "s")
    assert sorted(created) == sorted(secrets.SECRETS)
    for name in secrets.SECRETS:
        path = tmp_path / "s" / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(path.read_text()) >= 32
    assert stat.S_IMODE((tmp_path / "s").stat().st_mode) == 0o700
    assert secrets.check(tmp_path / "s") == []


def test_ensure_never_overwrites_and_values_differ(tmp_path):
    secrets.ensure(tmp_path)
    before = {n: (tmp_path / n).read_text() for n in secrets.SECRETS}
    assert secrets.ensure(tmp_path) == []
    assert {n: (tmp_path / n).read_text() for n in secrets.SECRETS} == before
    assert len(set(before.values())) == len(before)


def test_check_reports_missing_readable_and_short_cookie(tmp_path):
    secrets.ensure(tmp_path)
    (tmp_path / "redis_password").unlink()
    (tmp_path / "flower_password").chmod(0o644)
    (tmp_path / "erlang_cookie").write_text("short")
    problems = "\n".join(secrets.check(tmp_path))
    assert "redis_password: missing" in problems
    assert "flower_password: mode 0644" in problems
    assert "erlang_cookie: cookie of 5 characters" in problems
