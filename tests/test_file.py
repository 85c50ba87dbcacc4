"""aopen/AsyncFile and anext."""

import os
import threading
import time

import pytest

import curionet
from curionet import AsyncOnlyError, SyncIOError
from curionet.file import AsyncFile, anext, aopen


async def test_write_read_seek_readline(tmp_path):
    path = tmp_path / "f.txt"
    async with aopen(path, "w") as f:
        assert await f.write("one\ntwo\nthree\n") == 14
        await f.flush()
    async with aopen(path) as f:
        assert await f.readline() == "one\n"
        assert await f.tell() == 4
        assert await f.read() == "two\nthree\n"
        await f.seek(0)
        assert [line async for line in f] == ["one\n", "two\n", "three\n"]
        assert f.name == str(path)
    assert f.closed


async def test_binary_methods(tmp_path):
    path = tmp_path / "b.bin"
    async with aopen(path, "wb") as f:
        await f.writelines([b"ab", b"cd\n", b"ef\n"])
        await f.truncate(5)
    async with aopen(path, "rb") as f:
        buf = bytearray(2)
        assert await f.readinto(buf) == 2 and buf == b"ab"
        assert await f.read1(10) == b"cd\n"
        assert await f.readlines() == []
        await f.seek(0)
        assert await f.readall() == b"abcd\n"


async def test_anext(tmp_path):
    path = tmp_path / "lines"
    path.write_text("a\nb\n")
    async with aopen(path) as f:
        assert await anext(f) == "a\n"
        assert await anext(f) == "b\n"
        assert await anext(f, "end") == "end"
        with pytest.raises(StopAsyncIteration):
            await anext(f)


async def test_sync_use_is_refused(tmp_path):
    path = tmp_path / "x"
    path.write_text("x")
    f = aopen(path)
    with pytest.raises(AsyncOnlyError):  # Curio: a plain 'with' works only in an async thread
        with f:
            pass
    async with f:
        with pytest.raises(SyncIOError):
            for _ in f:
                pass
        with f.blocking() as raw:
            assert raw.read() == "x"


async def test_open_error_is_raised(tmp_path):
    with pytest.raises(FileNotFoundError):
        async with aopen(tmp_path / "missing"):
            pass
    with pytest.raises(TypeError):
        aopen()


async def test_wrapping_an_open_file(tmp_path):
    path = tmp_path / "w"
    path.write_bytes(b"data")
    raw = open(path, "rb")  # noqa: SIM115 - closed by the AsyncFile
    async with AsyncFile(raw) as f:
        assert await f.read() == b"data"
    assert raw.closed


async def test_file_io_never_stalls_a_ticker(tmp_path):
    """A FIFO read blocks until a writer shows up (here: after 1.5 s); a
    blocking implementation would stall the kernel that long."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    data = tmp_path / "data.bin"
    gaps = []
    stop = False

    async def ticker():
        last = time.monotonic()
        while not stop:
            await curionet.sleep(0.005)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    def late_writer():
        time.sleep(1.5)
        with open(fifo, "wb") as w:
            w.write(b"hello through the fifo")

    t = await curionet.spawn(ticker)
    th = threading.Thread(target=late_writer)
    th.start()
    async with aopen(fifo, "rb") as f:
        assert await f.read() == b"hello through the fifo"
    chunk = os.urandom(1 << 20)
    async with aopen(data, "wb") as f:
        for _ in range(16):
            await f.write(chunk)
    async with aopen(data, "rb") as f:
        total = 0
        while block := await f.read(1 << 20):
            total += len(block)
    assert total == 16 << 20
    stop = True
    await t.join()
    await curionet.run_in_thread(th.join)
    assert len(gaps) > 10
    assert max(gaps) < 0.75, f"ticker stalled for {max(gaps):.3f} s"


async def test_cancelled_open_leaks_no_file(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(curionet.TaskTimeout):
        async with curionet.timeout_after(0.05):
            async with aopen(fifo, "rb"):
                pass
    # Unblock the abandoned open(); the thread closes the file it got
    # (a leak would raise ResourceWarning, an error in this suite).
    with open(fifo, "wb"):
        pass
    await curionet.sleep(0.05)
