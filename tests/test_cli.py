"""The `storefront` command: export-schema, migrate, seed and configuration errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import SCHEMA_FILE, main
from schema.root import schema_sdl


def test_committed_schema_matches_the_code():
    assert SCHEMA_FILE.read_text() == schema_sdl()
    assert main(["export-schema", "--check"]) == 0


def test_export_schema_check_fails_on_a_stale_file(tmp_path, capsys):
    stale = tmp_path / "schema.graphql"
    stale.write_text(schema_sdl().replace("type Product", "type Produce"))
    assert main(["export-schema", "--check", "--output", str(stale)]) == 1
    assert "is out of date" in capsys.readouterr().err


def test_export_schema_writes_the_sdl(tmp_path):
    target = tmp_path / "out.graphql"
    assert main(["export-schema", "--output", str(target)]) == 0
    assert target.read_text() == schema_sdl()


def test_a_bad_setting_exits_2_with_the_reason(monkeypatch, capsys):
    monkeypatch.setenv("STOREFRONT_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    assert main(["migrate"]) == 2
    assert "configuration error: SECRET_KEY must be set" in capsys.readouterr().err


def _storefront(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "app.cli", *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_migrate_seed_and_seed_again(tmp_path):
    # given: a new SQLite database
    root = Path(__file__).resolve().parent.parent
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(root),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
    }
    # when / then
    migrated = _storefront("migrate", env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert "database is at migration 0007" in migrated.stdout
    seeded = _storefront("seed", "--products", "30", "--seed", "5", env=env, cwd=tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    assert seeded.stdout.startswith("storefront: seeded 30 products")
    again = _storefront("seed", "--products", "30", env=env, cwd=tmp_path)
    assert again.returncode == 1
    assert "pass --reset" in again.stderr
    kept = _storefront("seed", "--if-empty", env=env, cwd=tmp_path)
    assert (kept.returncode, kept.stdout.strip()) == (
        0,
        "storefront: the catalog already has products; left as it is",
    )
    reset = _storefront("seed", "--products", "10", "--reset", env=env, cwd=tmp_path)
    assert reset.returncode == 0 and "seeded 10 products" in reset.stdout
