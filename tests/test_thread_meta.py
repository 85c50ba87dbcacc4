"""curionet.meta additions: awaitable, from_coroutine."""

import pytest

import curionet
from curionet.meta import awaitable, from_coroutine, iscoroutinefunction


def spam(x):
    return ("sync", x)


@awaitable(spam)
async def spam(x):  # noqa: F811 - the point of @awaitable
    return ("async", x)


def test_awaitable_picks_by_context():
    assert spam(1) == ("sync", 1)

    async def main():
        return await spam(2)

    assert curionet.run(main) == ("async", 2)
    assert iscoroutinefunction(spam)


def test_awaitable_checks_its_arguments():
    async def a():
        pass

    with pytest.raises(TypeError):
        awaitable(a)
    with pytest.raises(TypeError):
        awaitable(spam.__wrapped__ if hasattr(spam, "__wrapped__") else len)(len)


def test_from_coroutine():
    def helper():
        return from_coroutine()

    async def coro():
        return helper()

    assert helper() is False
    assert curionet.run(coro) is True


def test_iscoroutinefunction_sees_through_wrappers():
    import functools

    async def coro(x):
        return x

    async def agen():
        yield 1

    class AsyncCallable:
        async def __call__(self):
            pass

    class SyncCallable:
        def __call__(self):
            pass

    assert iscoroutinefunction(coro)
    assert iscoroutinefunction(functools.partial(coro, 1))
    assert iscoroutinefunction(functools.partial(functools.partial(coro), 1))
    assert iscoroutinefunction(agen)
    assert iscoroutinefunction(AsyncCallable())
    assert not iscoroutinefunction(SyncCallable())
    assert not iscoroutinefunction(len)
    assert not iscoroutinefunction(lambda: None)
    assert not iscoroutinefunction(42)


def test_curio_running_is_true_only_inside_the_kernel():
    import threading

    from curionet.meta import curio_running, curionet_running

    assert curio_running is curionet_running
    assert not curio_running()

    async def main():
        inside = curio_running()
        elsewhere = await curionet.run_in_thread(curio_running)  # a worker thread
        return inside, elsewhere

    assert curionet.run(main) == (True, False)
    assert not curio_running()
    seen = []
    th = threading.Thread(target=lambda: seen.append(curio_running()))
    th.start()
    th.join()
    assert seen == [False]


def test_instantiate_coroutine_forms():
    from curionet.meta import instantiate_coroutine

    async def add(a, b=0):
        return a + b

    async def main():
        c1 = instantiate_coroutine(add, 1, b=2)
        c2 = instantiate_coroutine(add(3))
        return await c1, await c2

    assert curionet.run(main) == (3, 3)
    with pytest.raises(TypeError):
        instantiate_coroutine(len, "x")
