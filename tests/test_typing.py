"""The public API is typed: ``mypy --strict`` accepts a sample user program
(tests/typing_sample.py) whose ``assert_type`` calls state the types an
editor should see for tasks, timeouts, queues, connections and HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy")

SAMPLE = Path(__file__).with_name("typing_sample.py")


def test_sample_program_passes_mypy_strict(tmp_path: Path) -> None:
    env = dict(os.environ, MYPY_FORCE_COLOR="0")
    config = tmp_path / "mypy.ini"  # --strict alone, not the project's settings
    config.write_text("[mypy]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", str(tmp_path),
         "--config-file", str(config), "--python-version", "3.11", str(SAMPLE)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "error" not in proc.stdout, proc.stdout
