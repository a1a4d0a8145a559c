"""Debian's Prometheus server and promtool, for the exporter's tests.

.ci/run installs the ``prometheus`` package when it is missing; a developer running pytest as
root gets it installed here the first time it is needed. Tests skip (saying why) only where it
cannot be installed: not root, no apt-get, or the install failed.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import pytest

PACKAGE = "prometheus"


@functools.cache
def _find() -> tuple[str, str] | str:
    """(prometheus, promtool) paths, or why they cannot be had."""
    def both() -> tuple[str, str] | None:
        server, tool = shutil.which("prometheus"), shutil.which("promtool")
        return (server, tool) if server and tool else None

    found = both()
    if found:
        return found
    if os.geteuid() != 0:
        return f"Debian's {PACKAGE} package is not installed and only root can install it"
    if not shutil.which("apt-get"):
        return f"{PACKAGE} is not installed and there is no apt-get to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", PACKAGE]
    try:
        done = subprocess.run(install, capture_output=True, text=True, timeout=600, env=env)
        if done.returncode != 0:  # perhaps no package lists yet
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=300)
            done = subprocess.run(install, capture_output=True, text=True, timeout=600, env=env)
    except subprocess.TimeoutExpired:
        return f"installing {PACKAGE} with apt-get timed out"
    found = both()
    if found:
        return found
    return f"apt-get could not install {PACKAGE}: {done.stderr.strip()[-300:]}"


def prometheus() -> str:
    """The prometheus server binary, or skip the test saying why there is none."""
    found = _find()
    if isinstance(found, str):
        pytest.skip(found)
    return found[0]


def promtool() -> str:
    """promtool, or skip the test saying why there is none."""
    found = _find()
    if isinstance(found, str):
        pytest.skip(found)
    return found[1]
