"""The unprivileged attacker of the security tests: user ``nobody``, no groups.

Tests fork a child (conftest's ``spawn`` / ``run_and_exit``) whose body first calls
:func:`become_attacker`, then does what a hostile local user would: plant FIFOs and links, swap
names, hold files open. Everything it makes lives in a directory the test made and removes.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

_NOBODY = pwd.getpwnam("nobody")
UID = _NOBODY.pw_uid
GID = _NOBODY.pw_gid


def become_attacker() -> None:
    """In a forked child: drop to nobody for good (groups, gid, then uid)."""
    os.setgroups([])
    os.setresgid(GID, GID, GID)
    os.setresuid(UID, UID, UID)
    assert os.geteuid() == UID


@contextmanager
def attacker_dir(parent: str = "/tmp") -> Iterator[str]:
    """A fresh directory under ``parent`` owned by the attacker (mode 0755), removed after."""
    path = tempfile.mkdtemp(prefix="ipctop-attack-", dir=parent)
    os.chown(path, UID, GID)
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
