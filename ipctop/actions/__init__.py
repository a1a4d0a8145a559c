"""Acting on IPC objects: create, send, receive, peek, read, write, semaphore ops, remove.

One function per action, shared by the command line and the TUI, so each action is written once.
Every function validates its input before it touches anything and raises an :class:`IpcError`
subclass with one line fit for a user; nothing here prints or imports Textual.

Layout: :mod:`.verbs` holds the public verbs and picks the family module for a kind;
:mod:`.sysv` (by id, through libc), :mod:`.posix` (by "/name", through ``posix_ipc``) and
:mod:`.fifo` (by path) and :mod:`.memory` (anon-shm and memfd, read only, by inode) do the
work; :mod:`.common` has the results, input parsing and limits
they share. A new verb gets its dispatcher in verbs.py and one function per family.

Nothing here ever blocks without a deadline: queues and semaphores are used with IPC_NOWAIT and a
polling loop, ``semtimedop``, or ``posix_ipc``'s timeouts; FIFOs are opened O_NONBLOCK and waited on
with ``select``.
"""

from ipctop.actions.common import (
    ACTION_KINDS,
    DEV_SHM,
    LONG_MAX,
    MQ_PRIO_MAX,
    NAME_MAX,
    POSIX_SEM_VALUE_MAX,
    PROC_SYS,
    QUEUE_KINDS,
    READ_KINDS,
    SEM_KINDS,
    SEMVMX,
    SHM_KINDS,
    SYSVIPC,
    Created,
    Message,
    ShmBytes,
    as_kind,
    devshm_capacity,
    kernel_limit,
    kind_name,
    object_name,
    parse_hex,
    parse_key,
    parse_mode,
    parse_sysv_id,
    validate_posix_name,
)
from ipctop.actions.sysv import Attached, sysv_row
from ipctop.actions.verbs import (
    Removed,
    create,
    describe_removal,
    read_shm,
    read_shm_report,
    receive,
    refuse_attached,
    remove,
    remove_object,
    sem_op,
    sem_set,
    sem_values,
    send,
    shm_size,
    sysv_id,
    write_shm,
)

__all__ = [
    "ACTION_KINDS", "DEV_SHM", "LONG_MAX", "MQ_PRIO_MAX", "NAME_MAX", "POSIX_SEM_VALUE_MAX",
    "PROC_SYS", "QUEUE_KINDS", "READ_KINDS", "SEMVMX", "SEM_KINDS", "SHM_KINDS", "SYSVIPC",
    "Attached", "Created", "Message", "Removed", "ShmBytes", "as_kind", "create",
    "describe_removal", "devshm_capacity", "kernel_limit", "kind_name", "object_name",
    "parse_hex", "parse_key", "parse_mode", "parse_sysv_id", "read_shm", "read_shm_report",
    "receive", "refuse_attached", "remove", "remove_object", "sem_op", "sem_set", "sem_values",
    "send", "shm_size", "sysv_id", "sysv_row", "validate_posix_name", "write_shm",
]
