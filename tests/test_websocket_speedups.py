"""The optional C masking loop (``_speedups``) against the pure-Python one.

``_frames`` picks the implementation at import: the C functions when the
extension was built and ``CURIONET_NO_EXTENSIONS`` is not set, its pure
functions (kept as ``_pure_unmask`` / ``_pure_unmask_in_place``) otherwise.
The two must agree on every length and alignment, including memoryview
slices that start at an odd address.

Where the extension was not built (no C compiler) the comparison tests skip,
except under CI (``CI`` set), where a missing extension is a failure.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from curionet.protocols import websocket
from curionet.protocols.websocket import _frames

try:
    from curionet.protocols.websocket import _speedups
except ImportError:  # not built: no C compiler where curionet was installed
    _speedups = None  # type: ignore[assignment]

ENV = "CURIONET_NO_EXTENSIONS"


@pytest.fixture
def speedups():
    if _speedups is None:
        if os.environ.get("CI"):
            pytest.fail("the C extension curionet.protocols.websocket._speedups was not built")
        pytest.skip("the C extension was not built (no C compiler)")
    return _speedups


def _random_bytes(seed: int, n: int) -> bytes:
    return random.Random(seed).randbytes(n)


lengths = st.one_of(st.integers(0, 70000), st.integers(0, 40))
offsets = st.integers(0, 15)
keys = st.binary(min_size=4, max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=lengths, offset=offsets, tail=offsets, key=keys, seed=st.integers(0, 2**32))
def test_unmask_matches_the_pure_function(speedups, n, offset, tail, key, seed):
    raw = _random_bytes(seed, offset + n + tail)
    expected = _frames._pure_unmask(raw[offset : offset + n], key)
    assert len(expected) == n
    # bytes, bytearray and a memoryview slice at any alignment; key as bytes or a view.
    for data in (raw[offset : offset + n], bytearray(raw[offset : offset + n]), memoryview(raw)[offset : offset + n]):
        out = speedups.unmask(data, key)
        assert type(out) is bytes
        assert out == expected
    assert speedups.unmask(memoryview(raw)[offset : offset + n], memoryview(bytearray(key))) == expected
    # Masking twice gives the data back.
    assert speedups.unmask(expected, key) == raw[offset : offset + n]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=lengths, start=offsets, offset=offsets, key=keys, seed=st.integers(0, 2**32))
def test_unmask_in_place_matches_the_pure_function(speedups, n, start, offset, key, seed):
    raw = _random_bytes(seed, start + n)
    expected = bytearray(raw)
    _frames._pure_unmask_in_place(expected, start, key)
    buf = bytearray(raw)
    speedups.unmask_in_place(buf, start, key)
    assert buf == expected
    assert buf[:start] == raw[:start]
    # A writable memoryview slice whose first byte sits at any alignment:
    # only the slice changes.
    backing = bytearray(offset) + bytearray(raw) + b"guard"
    with memoryview(backing) as view, view[offset : offset + start + n] as part:
        speedups.unmask_in_place(part, start, key)
    assert backing == bytearray(offset) + expected + b"guard"


def test_the_key_must_be_four_bytes(speedups):
    for key in (b"", b"abc", b"abcde"):
        with pytest.raises(ValueError, match="4 bytes"):
            speedups.unmask(b"payload", key)
        with pytest.raises(ValueError, match="4 bytes"):
            speedups.unmask_in_place(bytearray(b"payload"), 0, key)


def test_unmask_in_place_refuses_a_start_outside_the_buffer_and_a_read_only_buffer(speedups):
    buf = bytearray(b"payload")
    for start in (-1, len(buf) + 1):
        with pytest.raises(ValueError, match="outside the buffer"):
            speedups.unmask_in_place(buf, start, b"\x01\x02\x03\x04")
    assert buf == b"payload"
    speedups.unmask_in_place(buf, len(buf), b"\x01\x02\x03\x04")  # nothing to do
    assert buf == b"payload"
    with pytest.raises(BufferError):
        speedups.unmask_in_place(b"payload", 0, b"\x01\x02\x03\x04")
    with pytest.raises(TypeError):
        speedups.unmask("text", b"\x01\x02\x03\x04")
    with pytest.raises(TypeError):
        speedups.unmask(b"payload")  # type: ignore[call-arg]


def test_this_process_uses_the_implementation_the_environment_selects(speedups):
    on = not os.environ.get(ENV)
    assert websocket.SPEEDUPS is on
    assert (_frames._unmask is speedups.unmask) is on
    assert (_frames._unmask_in_place is speedups.unmask_in_place) is on
    assert (_frames._unmask is _frames._pure_unmask) is not on


_PROBE = (
    "from curionet.protocols import websocket\n"
    "from curionet.protocols.websocket import _frames, _reader\n"
    "print(websocket.SPEEDUPS, _frames._unmask is _frames._pure_unmask,"
    " _reader._unmask_in_place is _frames._pure_unmask_in_place)\n"
)


def _probe(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_environment_variable_selects_the_pure_path():
    env = dict(os.environ, **{ENV: "1"})
    assert _probe(env) == "False True True"


def test_without_the_environment_variable_the_extension_is_used(speedups):
    env = {k: v for k, v in os.environ.items() if k != ENV}
    assert _probe(env) == "True False False"
