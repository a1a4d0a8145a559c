"""model.evolve: dataclasses.replace without re-running __init__, for every kind; kind_class:
the kind classes' one written __init__ behaves as the dataclass-generated one."""

from __future__ import annotations

import dataclasses

import pytest

from ipctop.kinds import KIND_CLASSES
from ipctop.model import IpcObject, Leak, User, evolve, kind_class

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


@pytest.mark.parametrize("cls", list(KIND_CLASSES.values()), ids=lambda c: c.__name__)
def test_equality_hash_and_repr_are_over_every_field(cls: type) -> None:
    """IpcObject's one __eq__/__hash__/__repr__ (the kind classes generate none) behave as the
    dataclass-generated ones did: every field counts, the class too."""
    fields = [f.name for f in dataclasses.fields(cls)]
    obj = cls(**{k: v for k, v in REQUIRED.items() if k in fields})
    same = cls(**{k: v for k, v in REQUIRED.items() if k in fields})
    assert obj == same and hash(obj) == hash(same) and obj is not same
    for name in ("id", "users", "leak", "ctime", fields[-1]):
        value = getattr(obj, name)
        other = evolve(obj, **{name: ("x" if isinstance(value, str) else (9,) if isinstance(
            value, tuple) else Leak(reason="r") if name == "leak" else 12345)})
        assert other != obj
    others = [c for c in KIND_CLASSES.values() if c is not cls]
    twin = others[0](**{k: v for k, v in REQUIRED.items()
                        if k in {f.name for f in dataclasses.fields(others[0])}})
    assert twin != obj  # another kind with the same field values is another object
    text = repr(obj)
    assert text.startswith(f"{cls.__name__}(id='7', ") and all(f"{n}=" in text for n in fields)
    assert [part.split("=")[0] for part in text[len(cls.__name__) + 1:].split(", ")
            if "=" in part][:3] == fields[:3]


@pytest.mark.parametrize("cls", list(KIND_CLASSES.values()), ids=lambda c: c.__name__)
def test_kind_init_is_the_dataclass_one(cls: type) -> None:
    """Every field given, defaults for the rest, in field order (hash and repr go by the
    instance's dict order); unknown, missing and positional arguments refused."""
    fields = dataclasses.fields(cls)
    given = {k: v for k, v in REQUIRED.items() if k in {f.name for f in fields}}
    obj = cls(**given)
    assert list(obj.__dict__) == [f.name for f in fields]
    for f in fields:
        want = given.get(f.name, f.default)
        assert f.name in given or f.default is not dataclasses.MISSING
        assert getattr(obj, f.name) == want
    changed = cls(**{**given, "id": "8", "owner": "root"})
    assert dataclasses.replace(obj, id="8", owner="root") == changed
    assert hash(evolve(obj, id="8", owner="root")) == hash(changed)
    with pytest.raises(TypeError, match="unexpected argument 'colour'"):
        cls(**given, colour="red")
    with pytest.raises(TypeError, match="missing argument 'id'"):
        cls(**{k: v for k, v in given.items() if k != "id"})
    with pytest.raises(TypeError):
        cls("7")
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.id = "9"


def test_kind_class_refuses_default_factories() -> None:
    with pytest.raises(TypeError, match="plain defaults only"):

        @kind_class
        class Odd(IpcObject):
            things: list[int] = dataclasses.field(default_factory=list)
