"""Suite-wide set-up: the tests talk to loopback servers only, so proxy
settings inherited from the machine must not route them elsewhere
(ClientSession reads the environment by default, as httpx does)."""

import os

for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
    os.environ.pop(_name, None)
    os.environ.pop(_name.lower(), None)
