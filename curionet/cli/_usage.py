"""Bad command-line input found after parsing, shared by the subcommands
(kept apart from the dispatcher so a subcommand never imports it)."""


class UsageError(Exception):
    """Bad input found after parsing: reported as one ``error:`` line, exit 2."""


def check_port(port: int, option: str = "port") -> None:
    """Raise :class:`UsageError` unless 0 <= *port* <= 65535."""
    if not 0 <= port <= 65535:
        raise UsageError(f"{option} {port} is not in 0-65535")
