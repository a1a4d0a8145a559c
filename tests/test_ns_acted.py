"""What ipctop itself does inside another IPC namespace shows at the next poll, although the
collector keeps what it read there while the namespace's own processes sleep (ipctop's helper
is no member of it)."""

from __future__ import annotations

import os

import sysv_ipc
from conftest import Spawn, unique_key
from test_namespaces import ns_of, private_namespaces

from ipctop import nsenter
from ipctop.kinds import SysvMsg
from ipctop.model import Kind
from ipctop.snapshot import LiveTake


def test_an_action_inside_a_sleeping_namespace_shows_at_the_next_poll(spawn: Spawn) -> None:
    key = unique_key()

    def member() -> bytes:
        private_namespaces()
        return str(sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX, 0o600).id).encode()

    box = spawn(member)  # makes a queue inside, then sleeps holding its namespaces
    ns, qid = ns_of(box.pid, "ipc"), box.report.decode()

    def queue() -> SysvMsg:
        found = [o for o in live().objects
                 if o.kind is Kind.SYSV_MSG and o.id == qid and o.ipc_ns == ns]
        assert len(found) == 1 and isinstance(found[0], SysvMsg)
        return found[0]

    live = LiveTake()
    assert queue().messages == 0
    where = nsenter.Inside(box.pid, ns, None, f"ns {ns}").for_kind(Kind.SYSV_MSG)
    assert where is not None and where.ipc == ns

    def send() -> int:
        sysv_ipc.MessageQueue(key).send(b"from the host")
        return os.getpid()

    assert where.run(send) != os.getpid()  # a helper, inside
    assert queue().messages == 1  # the very next poll, the box still asleep
    where.run(lambda: sysv_ipc.MessageQueue(key).receive(block=False) and None)
    assert queue().messages == 0
    # Nothing acted since: the next poll may keep what it read, and it is still right.
    assert queue().messages == 0
