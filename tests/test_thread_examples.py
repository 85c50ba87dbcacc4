"""The thread-interop example runs and does what it says."""

import pathlib
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def test_thread_interop_example():
    proc = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", str(EXAMPLES / "thread_interop.py")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"thread consumed 10000 items, total {sum(range(1, 10_001))}\n"
