"""The curionet pytest plugin: which tests it claims, and async fixtures.

Each test runs a small inner test file with pytest's ``pytester`` (in
process).  ``-p no:asyncio`` takes pytest-asyncio out where a test is about
curionet on its own.
"""

import pytest

pytest_plugins = ["pytester"]

ALONE = ("-p", "no:asyncio")


def run(pytester, *args):
    """Run pytest in process on pytester's files; plugins with nothing to do
    here (and slow to reload on each run) are left out."""
    return pytester.runpytest("-p", "no:hypothesispytest", "-p", "no:benchmark", *args)


def test_async_fixtures_run_on_the_tests_kernel_in_order(pytester):
    pytester.makeini("[pytest]\ncurionet_mode = auto\n")
    pytester.makepyfile(
        """
        import pytest
        import curionet
        from curionet.kernel.kernel import current_kernel

        log = []

        @pytest.fixture
        async def plain(autojump_clock):
            await curionet.sleep(5)  # on the test's (mock) clock
            log.append(("plain", current_kernel()))
            return "plain"

        @pytest.fixture
        async def server(plain):
            ready = curionet.Event()

            async def serve():
                await ready.set()
                await curionet.Event().wait()  # lives on until cancelled

            task = await curionet.spawn(serve)
            log.append(("server up", current_kernel()))
            yield ready
            log.append(("server down", current_kernel()))
            await task.cancel()
            assert task.cancelled

        async def test_uses_them(server, plain):
            await server.wait()  # set by a task the fixture spawned
            assert plain == "plain"
            assert await curionet.clock() == 5
            log.append(("test", current_kernel()))

        def test_after():
            assert [what for what, _ in log] == ["plain", "server up", "test", "server down"]
            kernels = {k for _, k in log}
            assert len(kernels) == 1 and None not in kernels
            assert kernels.pop().closed
        """
    )
    result = run(pytester, *ALONE)
    result.assert_outcomes(passed=2)


def test_a_yield_fixture_may_hold_a_task_group_and_a_timeout_across_its_yield(pytester):
    # The fixture runs in a task of its own from setup to teardown.
    pytester.makeini("[pytest]\ncurionet_mode = auto\n")
    pytester.makepyfile(
        """
        import pytest
        import curionet

        ticks = []

        @pytest.fixture
        async def ticker(autojump_clock):
            async def tick():
                while True:
                    await curionet.sleep(1)
                    ticks.append(await curionet.clock())

            async with curionet.timeout_after(100):
                async with curionet.TaskGroup() as group:
                    await group.spawn(tick)
                    yield ticks
                    await group.cancel_remaining()

        async def test_ticks(ticker):
            await curionet.sleep(3.5)
            assert ticker == [1, 2, 3]

        def test_after():
            assert ticks == [1, 2, 3]
        """
    )
    run(pytester, *ALONE).assert_outcomes(passed=2)


def test_an_async_fixture_that_yields_twice_is_an_error(pytester):
    pytester.makeini("[pytest]\ncurionet_mode = auto\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        async def twice():
            yield 1
            yield 2

        async def test_it(twice):
            pass
        """
    )
    result = run(pytester, *ALONE)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*async fixture 'twice' yielded more than once*"])


def test_a_failing_teardown_is_an_error(pytester):
    pytester.makeini("[pytest]\ncurionet_mode = auto\n")
    pytester.makepyfile(
        """
        import pytest
        import curionet

        @pytest.fixture
        async def broken():
            yield 1
            await curionet.sleep(0)
            raise RuntimeError("teardown went wrong")

        async def test_body_passes(broken):
            assert broken == 1
        """
    )
    result = run(pytester, *ALONE)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_body_passes*", "*teardown went wrong*"])


def test_a_failing_async_fixture_setup_is_an_error(pytester):
    pytester.makeini("[pytest]\ncurionet_mode = auto\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        async def broken():
            raise ValueError("no database")
            yield

        async def test_never_runs(broken):
            raise AssertionError("ran")
        """
    )
    result = run(pytester, *ALONE)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_never_runs*", "*no database*"])


def test_async_fixture_wider_than_a_function_is_refused(pytester):
    pytester.makeini("[pytest]\ncurionet_mode = auto\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture(scope="module")
        async def shared():
            return 1

        async def test_it(shared):
            pass
        """
    )
    result = run(pytester, *ALONE)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*async fixture 'shared' has scope 'module'*"])


STRICT_FILE = """
    import pytest
    import curionet

    @pytest.mark.curionet
    async def test_marked():
        await curionet.sleep(0)

    async def test_unmarked():
        await curionet.sleep(0)

    @pytest.mark.curionet
    class TestMarkedClass:
        async def test_in_class(self, mock_clock):
            assert await curionet.clock() == 0
"""


def test_strict_mode_runs_only_marked_tests(pytester):
    pytester.makeini("[pytest]\ncurionet_mode = strict\n")
    pytester.makepyfile(STRICT_FILE)
    result = run(pytester, *ALONE, "--strict-markers", "-W", "error::pytest.PytestUnknownMarkWarning")
    # The unmarked one is left to pytest, which has no way to run it.
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*FAILED*test_unmarked*"])


def test_auto_mode_runs_every_async_test(pytester):
    pytester.makeini("[pytest]\ncurionet_mode = auto\n")
    pytester.makepyfile(STRICT_FILE)
    run(pytester, *ALONE, "--strict-markers").assert_outcomes(passed=3)


def test_command_line_option_overrides_the_ini(pytester):
    pytester.makeini("[pytest]\ncurionet_mode = strict\n")
    pytester.makepyfile(STRICT_FILE)
    run(pytester, *ALONE, "--curionet-mode=auto").assert_outcomes(passed=3)


def test_a_bad_mode_is_a_usage_error(pytester):
    pytester.makepyfile(STRICT_FILE)
    result = run(pytester, *ALONE, "--curionet-mode=sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*curionet_mode must be 'auto' or 'strict', not 'sometimes'*"])


def test_default_is_auto_when_no_other_async_plugin_is_active(pytester):
    pytester.makepyfile(STRICT_FILE)
    result = run(pytester, *ALONE)
    result.assert_outcomes(passed=3)


def test_default_is_strict_when_pytest_asyncio_is_active(pytester):
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(STRICT_FILE)
    result = run(pytester)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*FAILED*test_unmarked*"])


def test_coexists_with_pytest_asyncio_in_auto_mode(pytester):
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import asyncio

        import pytest
        import curionet

        @pytest.fixture
        async def loop_name():
            await asyncio.sleep(0)
            return type(asyncio.get_running_loop()).__name__

        @pytest.fixture
        async def curio_value():
            await curionet.sleep(0)
            yield 42
            await curionet.sleep(0)

        async def test_left_to_pytest_asyncio(loop_name):
            await asyncio.sleep(0)
            assert loop_name

        @pytest.mark.curionet
        async def test_on_curionet(curio_value, autojump_clock):
            await curionet.sleep(10)
            assert curio_value == 42
            assert await curionet.clock() == 10
        """
    )
    result = run(pytester, "--strict-markers")
    result.assert_outcomes(passed=2)


def test_explicit_auto_mode_with_pytest_asyncio_auto_is_a_usage_error(pytester):
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\ncurionet_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(STRICT_FILE)
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*asyncio_mode*curionet_mode*"])


def test_auto_mode_leaves_anyio_tests_to_anyio(pytester):
    pytester.makeini("[pytest]\ncurionet_mode = auto\n")
    pytester.makepyfile(
        """
        import asyncio

        import pytest
        import curionet

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        async def test_on_anyio():
            await asyncio.sleep(0)

        async def test_on_curionet():
            await curionet.sleep(0)
        """
    )
    run(pytester, *ALONE).assert_outcomes(passed=2)


def test_a_clock_set_up_after_the_kernel_started_is_reported(pytester):
    pytester.makeini("[pytest]\ncurionet_mode = auto\n")
    pytester.makepyfile(
        """
        import pytest
        import curionet

        @pytest.fixture
        async def early():
            return 1

        @pytest.fixture
        def my_clock():
            return curionet.MockClock()

        @pytest.fixture
        async def never_yields():
            if False:
                yield

        async def test_late_clock(early, my_clock):
            pass

        async def test_never_yields(never_yields):
            pass
        """
    )
    result = run(pytester, *ALONE)
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*'never_yields' did not yield*", "*an async fixture started the test's kernel before its clock fixture*"]
    )
