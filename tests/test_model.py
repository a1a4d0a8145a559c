"""model.evolve: dataclasses.replace without re-running __init__, for every kind."""

from __future__ import annotations

import dataclasses

import pytest

from ipctop.kinds import KIND_CLASSES
from ipctop.model import Leak, User, evolve

REQUIRED = {"id": "7", "nattch": 1, "cpid": 2, "lpid": 3, "messages": 0, "bytes": 0, "lspid": 0,
            "lrpid": 0, "nsems": 1, "path": "/dev/shm/x", "type": "stream", "state": "listen",
            "inode": 9, "proto": "tcp", "family": "ipv4", "local": "127.0.0.1:80"}


@pytest.mark.parametrize("cls", list(KIND_CLASSES.values()), ids=lambda c: c.__name__)
def test_evolve_is_replace(cls: type) -> None:
    fields = {f.name for f in dataclasses.fields(cls)}
    obj = cls(**{k: v for k, v in REQUIRED.items() if k in fields})
    users = (User(pid=1, comm="a", fd=3, access="r"),)
    leak = Leak(reason="gone")
    new = evolve(obj, users=users, leak=leak)
    assert new == dataclasses.replace(obj, users=users, leak=leak)
    assert type(new) is cls and new.users == users and new.leak == leak
    assert obj.users == () and obj.leak is None  # the original is untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        new.id = "8"  # type: ignore[misc]
    assert hash(new) == hash(dataclasses.replace(obj, users=users, leak=leak))


def test_evolve_rejects_unknown_fields() -> None:
    obj = KIND_CLASSES[next(iter(KIND_CLASSES))](**{k: v for k, v in REQUIRED.items()
                                                    if k in ("id", "nattch", "cpid", "lpid")})
    with pytest.raises(TypeError, match="no field 'colour'"):
        evolve(obj, colour="red")
