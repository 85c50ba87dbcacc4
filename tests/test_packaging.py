"""The distributions: the wheel ships ``py.typed`` and the license, the
sdist carries what its own tests need, and an editable install (the
README's ``pip install -e .``) is visible to mypy.

Each build runs the setuptools backend in a subprocess (what ``pip wheel
--no-build-isolation`` does) on a copy of the project, so the working tree
gets no ``build/`` or ``*.egg-info``."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import tarfile
import textwrap
import tomllib
import venv
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
NAME = PYPROJECT["project"]["name"]
VERSION = PYPROJECT["project"]["version"]
_FILES = ["pyproject.toml", "setup.py", "README.md", "LICENSE", "MANIFEST.in", "CONTRIBUTING.md"]
_DIRS = ["curionet", "tests", "docs", "examples"]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> pathlib.Path:
    """A copy of the project's sources, without build products."""
    dst = tmp_path_factory.mktemp("project") / "src"
    dst.mkdir()
    for name in _FILES:
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, dst / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.py[cod]", "*.so", "*.egg-info", "build")
    for name in _DIRS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, dst / name, ignore=ignore)
    return dst


def _build(project: pathlib.Path, hook: str, out: pathlib.Path) -> pathlib.Path:
    out.mkdir(exist_ok=True)
    code = f"import sys, setuptools.build_meta as b; print(b.{hook}(sys.argv[1]))"
    proc = subprocess.run([sys.executable, "-c", code, str(out)], cwd=project, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out / proc.stdout.strip().splitlines()[-1]


def test_license_file_matches_the_metadata():
    assert PYPROJECT["project"]["license"] == "MIT"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 The curionet authors" in text


def test_wheel_has_py_typed_and_the_license(project, tmp_path):
    wheel = _build(project, "build_wheel", tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(f"{NAME}-{VERSION}.dist-info/METADATA").decode()
    assert "curionet/py.typed" in names
    assert f"{NAME}-{VERSION}.dist-info/licenses/LICENSE" in names
    assert "License-Expression: MIT" in metadata.splitlines()
    assert not [n for n in names if n.startswith(("tests/", "docs/", "examples/")) or "__pycache__" in n]


def test_sdist_has_what_its_tests_need(project, tmp_path):
    sdist = _build(project, "build_sdist", tmp_path)
    top = f"{NAME}-{VERSION}"
    with tarfile.open(sdist) as tf:
        names = {name.removeprefix(top + "/") for name in tf.getnames()}
    for needed in ["LICENSE", "README.md", "pyproject.toml", "curionet/py.typed", "tests/conftest.py",
                   "tests/test_docs.py", "docs/reference.md", "docs/tutorial.md",
                   "examples/http_concurrent_fetch.py"]:  # fmt: skip
        assert needed in names, needed
    assert {n for n in names if n.startswith("tests/test_")} >= {
        str(p.relative_to(project)) for p in (project / "tests").glob("test_*.py")
    }
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".so"))]


def test_editable_install_is_visible_to_mypy(project, tmp_path):
    # The editable wheel pip would install for `pip install -e .`, put into a
    # bare virtual environment; then mypy checks a user's file against it.
    wheel = _build(project, "build_editable", tmp_path / "dist")
    with zipfile.ZipFile(wheel) as zf:
        pth = [n for n in zf.namelist() if n.endswith(".pth")]
        assert len(pth) == 1, zf.namelist()
        lines = zf.read(pth[0]).decode().split()
    # A plain path: mypy reads those, but runs no import hook.
    assert lines == [str(project)], lines
    env = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env)
    site = subprocess.run([env / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    user = tmp_path / "user" / "app.py"
    user.parent.mkdir()
    user.write_text(textwrap.dedent("""\
        import curionet


        async def main() -> int:
            await curionet.sleep(0)
            return 1


        n: int = curionet.run(main)
        """))
    proc = subprocess.run([sys.executable, "-m", "mypy", "--python-executable", str(env / "bin" / "python"),
                           "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", "app.py"],
                          cwd=user.parent, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert "import-not-found" not in proc.stdout and "import-untyped" not in proc.stdout, proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr
