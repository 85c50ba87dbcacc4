"""Build configuration beyond pyproject.toml: the optional C accelerator.

The metadata lives in pyproject.toml.  This file only declares the one C
extension (the WebSocket masking loop).  It is ``optional``: without a C
compiler ``pip install .`` still succeeds and curionet runs on the
pure-Python path.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "curionet.protocols.websocket._speedups",
            sources=["curionet/protocols/websocket/_speedups.c"],
            optional=True,
        )
    ]
)
