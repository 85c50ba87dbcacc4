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
