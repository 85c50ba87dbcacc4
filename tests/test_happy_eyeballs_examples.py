"""The Happy Eyeballs examples run and do what they say."""

import pathlib
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _run(name: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", str(EXAMPLES / name)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_curio_readme_recipe():
    out = _run("happy_eyeballs_curio_recipe.py")
    assert out.startswith("connected to 127.0.0.1 port ")


def test_connector_example_falls_back_to_ipv4():
    out = _run("happy_eyeballs.py")
    lines = out.splitlines()
    assert lines[-1] == "echoed: hello over IPv4"
    attempts = [line.split()[3] for line in lines if " attempt " in line]
    assert attempts[-1].startswith("127.0.0.1:")
    if "no IPv6" not in out:
        assert attempts[0].startswith("[::1]:")
        assert any(" cancelled " in line and "[::1]" in line for line in lines)
