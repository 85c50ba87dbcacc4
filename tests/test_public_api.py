"""The names ``curionet`` exports: ``__all__`` lists exactly the public names
``curionet/__init__.py`` re-exports, each resolves, and the types users touch
are among them."""

from __future__ import annotations

import ast
import pathlib
import types
import typing

import curionet
import curionet.protocols.http as http
from curionet.kernel.clock import Clock, MockClock, SystemClock

INIT = pathlib.Path(curionet.__file__)


def reexported_names() -> list[str]:
    """Every public name bound by an import statement in ``curionet/__init__.py``."""
    names = []
    for node in ast.parse(INIT.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                name = alias.asname or alias.name.partition(".")[0]
                if not name.startswith("_"):
                    names.append(name)
    return names


def test_all_lists_every_reexported_name_once():
    assert len(curionet.__all__) == len(set(curionet.__all__)), "a name is listed twice"
    reexported = set(reexported_names())
    listed = set(curionet.__all__)
    assert not reexported - listed, f"re-exported but missing from __all__: {sorted(reexported - listed)}"
    assert not listed - reexported, f"in __all__ but not re-exported: {sorted(listed - reexported)}"


def test_every_name_in_all_resolves():
    for name in curionet.__all__:
        assert getattr(curionet, name, None) is not None, name


def test_star_import_gives_all_and_nothing_else():
    namespace: dict[str, object] = {}
    exec("from curionet import *", namespace)
    namespace.pop("__builtins__")
    assert sorted(namespace) == sorted(curionet.__all__)


def test_no_public_attribute_is_left_out_of_all():
    """Submodules are attributes once imported; any other public name is API."""
    public = {n for n in dir(curionet) if not n.startswith("_")}
    modules = {n for n in public if isinstance(getattr(curionet, n), types.ModuleType)}
    assert not (public - modules) - set(curionet.__all__)
    assert {"socket", "ssl"} <= set(curionet.__all__)  # Curio's submodule re-exports


def test_http_types_users_touch_are_exported():
    for name in [
        "ClientSession", "URL", "Headers", "Request", "Response", "Timeout", "Limits", "Auth", "BasicAuth",
        "Cookies", "AsyncBaseTransport", "HTTPTransport", "MockTransport", "InvalidURL", "HTTPError",
    ]:  # fmt: skip
        assert getattr(curionet, name) is getattr(http, name), name
        assert name in curionet.__all__, name


def test_the_docstring_says_where_the_rest_lives():
    assert "curionet.protocols.http" in (curionet.__doc__ or "")


def test_clock_protocol_types_the_kernel_clock():
    assert curionet.Clock is Clock
    assert isinstance(SystemClock(), Clock) and isinstance(MockClock(), Clock)
    assert not isinstance(object(), Clock)
    hints = typing.get_type_hints(curionet.Kernel.__init__)
    assert hints["clock"] == Clock | None


class _TenthClock:
    """A clock written against the protocol alone: time passes in steps of 0.1."""

    def __init__(self) -> None:
        self.now = 0.0

    def current_time(self) -> float:
        return self.now

    def sleep_time(self, deadline: float, now: float) -> float | None:
        return 0.0

    def idle(self, deadline: float) -> None:
        self.now = round(self.now + 0.1, 10)


def test_a_custom_clock_drives_the_kernel():
    custom = _TenthClock()
    assert isinstance(custom, Clock)

    async def main():
        await curionet.sleep(0.25)
        return await curionet.clock()

    with curionet.Kernel(clock=custom) as kernel:
        assert kernel.run(main) == 0.3
