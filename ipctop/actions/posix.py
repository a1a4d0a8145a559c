"""POSIX shared memory, message queues and named semaphores, by "/name", through ``posix_ipc``.

``posix_ipc`` is imported lazily, so ``ipctop snapshot`` starts fast. Waits use its timeouts.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ipctop.actions.common import (
    MQ_PRIO_MAX,
    POSIX_SEM_VALUE_MAX,
    Created,
    Deadline,
    Message,
    check_range,
    check_size,
    check_span,
    count_holders,
    devshm_capacity,
    differ,
    exact_umask,
    existing,
    kernel_limit,
    n_processes,
    object_name,
    plural,
    validate_posix_name,
)
from ipctop.errors import IpcError, NotFound, UsageError
from ipctop.fmt import human_bytes
from ipctop.model import Kind


def _posix_error(err: Exception, what: str, name: str) -> IpcError:
    import posix_ipc

    if isinstance(err, posix_ipc.ExistentialError):
        return NotFound(f"{name} does not exist (see `ipctop snapshot`)")
    if isinstance(err, posix_ipc.PermissionsError | PermissionError):
        return IpcError(f"permission denied: cannot {what} {name}")
    return IpcError(f"cannot {what} {name}: {err}")


@contextmanager
def _posix_open(kind: Kind, name: str, what: str, **kwargs: Any) -> Iterator[Any]:
    """Open an existing POSIX object (never create), closing it afterwards."""
    import posix_ipc

    validate_posix_name(kind, name)
    cls = {Kind.POSIX_SHM: posix_ipc.SharedMemory, Kind.POSIX_MQ: posix_ipc.MessageQueue,
           Kind.POSIX_SEM: posix_ipc.Semaphore}[kind]
    label = object_name(kind, name)
    try:
        obj = cls(name, 0, **kwargs)
    except (posix_ipc.Error, OSError) as err:
        raise _posix_error(err, what, label) from None
    try:
        yield obj
    finally:
        if kind is Kind.POSIX_SHM:
            obj.close_fd()
        else:
            obj.close()


# --------------------------------------------------------------------------- create


def create(kind: Kind, name: str, perms: int, size: int | None, maxmsg: int | None,
           msgsize: int | None, value: int | None, exclusive: bool,
           reuse: bool = False) -> Created:
    import posix_ipc

    label = object_name(kind, name)
    kwargs: dict[str, Any] = {}
    if kind is Kind.POSIX_SHM:
        nbytes = check_size(size, kind, devshm_capacity(), "the size of /dev/shm")
    elif kind is Kind.POSIX_MQ:
        default_n = kernel_limit("mq_msg_default") or 10
        default_size = kernel_limit("mq_msgsize_default") or 8192
        kwargs["max_messages"] = check_range(
            "--maxmsg", default_n if maxmsg is None else maxmsg, 1, kernel_limit("mq_msg_max"),
            " (fs.mqueue.msg_max)")
        kwargs["max_message_size"] = check_range(
            "--msgsize", default_size if msgsize is None else msgsize, 1,
            kernel_limit("mq_msgsize_max"), " (fs.mqueue.msgsize_max)")
    else:
        kwargs["initial_value"] = check_range("--value", 0 if value is None else value, 0,
                                               POSIX_SEM_VALUE_MAX)
    cls = {Kind.POSIX_SHM: posix_ipc.SharedMemory, Kind.POSIX_MQ: posix_ipc.MessageQueue,
           Kind.POSIX_SEM: posix_ipc.Semaphore}[kind]
    try:
        with exact_umask():
            obj = cls(name, posix_ipc.O_CREX, perms, **kwargs)
    except posix_ipc.ExistentialError:
        if exclusive:
            raise UsageError(f"{label} already exists") from None
        differs: list[str] = []
        with _posix_open(kind, name, "open",
                         **({"read_only": True} if kind is Kind.POSIX_SHM else {})) as old:
            if kind is Kind.POSIX_SHM:
                differs = differ("size", os.fstat(old.fd).st_size, nbytes)
            elif kind is Kind.POSIX_MQ:
                differs = (differ("maxmsg", old.max_messages, maxmsg)
                           + differ("msgsize", old.max_message_size, msgsize))
        return existing(kind, name, None, differs, reuse)
    except (posix_ipc.Error, OSError, ValueError) as err:
        if isinstance(err, posix_ipc.PermissionsError | PermissionError):
            raise IpcError(f"permission denied: cannot create {label}") from None
        text = str(err)
        if kind is Kind.POSIX_MQ and ("maximum number of files" in text or
                                      getattr(err, "errno", None) == errno.EMFILE):
            raise IpcError(f"cannot create {label}: its {kwargs['max_messages']} x "
                           f"{kwargs['max_message_size']} bytes would pass this user's "
                           f"RLIMIT_MSGQUEUE ({_mq_rlimit()}, see `ulimit -q`) together with "
                           "the user's other queues") from None
        if getattr(err, "errno", None) == errno.ENOSPC or "No space" in text:
            raise IpcError(f"cannot create {label}: the kernel's limit on objects is reached "
                           "(fs.mqueue.queues_max for queues)") from None
        raise IpcError(f"cannot create {label}: {text}") from None
    try:
        if kind is Kind.POSIX_SHM:
            os.ftruncate(obj.fd, nbytes)
    except OSError as err:
        obj.close_fd()
        posix_ipc.unlink_shared_memory(name)  # leave nothing behind
        raise IpcError(f"cannot size {label} to {nbytes} bytes: {err.strerror}") from None
    if kind is Kind.POSIX_SHM:
        obj.close_fd()
    else:
        obj.close()
    return Created(kind, name, created=True)


def _mq_rlimit() -> str:
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_MSGQUEUE)
    return "unlimited" if soft == resource.RLIM_INFINITY else f"{soft} bytes"


# --------------------------------------------------------------------------- send, receive


def send(name: str, data: bytes, priority: int, timeout: float) -> None:
    import posix_ipc

    check_range("--priority", priority, 0, MQ_PRIO_MAX)
    label = object_name(Kind.POSIX_MQ, name)
    with _posix_open(Kind.POSIX_MQ, name, "send to", read=False, write=True) as mq:
        if len(data) > mq.max_message_size:
            raise UsageError(f"message too long: {len(data)} bytes, {label} takes at most "
                             f"{mq.max_message_size}")
        try:
            mq.send(data, timeout=timeout, priority=priority)
        except posix_ipc.BusyError:
            waited = f" after waiting {timeout:g}s" if timeout else ""
            raise IpcError(f"{label} is full ({mq.current_messages} of {mq.max_messages} "
                           f"messages){waited}: nothing sent") from None
        except (posix_ipc.Error, OSError) as err:
            raise _posix_error(err, "send to", label) from None


def receive(name: str, timeout: float, count: int) -> list[Message]:
    import posix_ipc

    label = object_name(Kind.POSIX_MQ, name)
    deadline = Deadline(timeout)
    out: list[Message] = []
    with _posix_open(Kind.POSIX_MQ, name, "receive from", read=True, write=False) as mq:
        while len(out) < count:
            try:
                data, prio = mq.receive(timeout=deadline.left())
            except posix_ipc.BusyError:
                break
            except posix_ipc.SignalError:
                continue
            except (posix_ipc.Error, OSError) as err:
                raise _posix_error(err, "receive from", label) from None
            out.append(Message(bytes(data), int(prio)))
    return out


# --------------------------------------------------------------------------- shared memory


def shm_size(ident: str) -> int:
    with _posix_open(Kind.POSIX_SHM, ident, "read", read_only=True) as shm:
        return os.fstat(shm.fd).st_size


def read_shm(ident: str, offset: int, length: int | None) -> bytes:
    """Read with pread, which cannot fault the way a mapping does if someone shrinks the object
    meanwhile."""
    k = Kind.POSIX_SHM
    name = object_name(k, ident)
    with _posix_open(k, ident, "read", read_only=True) as shm:
        size = os.fstat(shm.fd).st_size
        n = size - offset if length is None else length
        check_span(name, size, offset, n, "read")
        return os.pread(shm.fd, n, offset) if n else b""


def write_shm(ident: str, data: bytes, offset: int) -> int:
    k = Kind.POSIX_SHM
    name = object_name(k, ident)
    with _posix_open(k, ident, "write") as shm:
        check_span(name, os.fstat(shm.fd).st_size, offset, len(data), "write")
        try:
            return os.pwrite(shm.fd, data, offset)
        except OSError as err:
            raise IpcError(f"cannot write {name}: {err.strerror}") from None


# --------------------------------------------------------------------------- semaphores


def sem_values(ident: str) -> tuple[int, ...]:
    with _posix_open(Kind.POSIX_SEM, ident, "read") as sem:
        return (int(sem.value),)


def sem_op(name: str, op: int, index: int, timeout: float) -> int:
    import posix_ipc

    label = object_name(Kind.POSIX_SEM, name)
    if index != 0:
        raise UsageError(f"--index applies to sysv-sem sets; {label} is one semaphore")
    if op == 0:
        raise UsageError("POSIX semaphores cannot wait for zero: --op must not be 0")
    check_range("--op", op, -POSIX_SEM_VALUE_MAX, POSIX_SEM_VALUE_MAX)
    with _posix_open(Kind.POSIX_SEM, name, "change") as sem:
        if op > 0:
            if sem.value + op > POSIX_SEM_VALUE_MAX:
                raise UsageError(f"{label} would exceed {POSIX_SEM_VALUE_MAX}: nothing changed")
            for _ in range(op):
                sem.release()
            return int(sem.value)
        deadline = Deadline(timeout)
        taken = 0
        try:
            while taken < -op:
                sem.acquire(deadline.left())
                taken += 1
        except posix_ipc.BusyError:
            for _ in range(taken):  # all or nothing, like semop
                sem.release()
            raise IpcError(f"{label} is {sem.value}, op {op:+d} needs at least {-op}"
                           f"{deadline.waited()}: nothing changed") from None
        except (posix_ipc.Error, OSError) as err:
            for _ in range(taken):
                sem.release()
            raise _posix_error(err, "change", label) from None
        return int(sem.value)


def sem_set(ident: str, value: int, index: int) -> int:
    """Set by taking or posting."""
    import posix_ipc

    k = Kind.POSIX_SEM
    name = object_name(k, ident)
    if index != 0:
        raise UsageError(f"--index applies to sysv-sem sets; {name} is one semaphore")
    check_range("--set", value, 0, POSIX_SEM_VALUE_MAX)
    with _posix_open(k, ident, "set") as sem:
        try:
            while sem.value > value:
                sem.acquire(0)
        except posix_ipc.BusyError:
            pass  # someone else took it meanwhile: fine, we go on posting up to value
        while sem.value < value:
            sem.release()
        return int(sem.value)


# --------------------------------------------------------------------------- remove


def describe_removal(k: Kind, ident: str, holders: int | None) -> str:
    with _posix_open(k, ident, "look at", **({"read_only": True} if k is Kind.POSIX_SHM else {})
                     ) as obj:
        detail = ""
        if k is Kind.POSIX_MQ:
            queued = int(obj.current_messages)
            if queued:
                detail = f"{plural(queued, 'message')} queued; "
        elif k is Kind.POSIX_SHM:
            detail = f"{human_bytes(os.fstat(obj.fd).st_size)}; "
    n = count_holders(k, ident) if holders is None else holders
    if n is None:
        return f"{detail}the name goes now (users unknown)"
    if n:
        return (f"{detail}open in {n_processes(n)}: the name goes now, the object when the last "
                "closes it")
    return f"{detail}no process has it open: destroyed now"


def remove(k: Kind, ident: str) -> None:
    import posix_ipc

    validate_posix_name(k, ident)
    unlink = {Kind.POSIX_SHM: posix_ipc.unlink_shared_memory,
              Kind.POSIX_MQ: posix_ipc.unlink_message_queue,
              Kind.POSIX_SEM: posix_ipc.unlink_semaphore}[k]
    try:
        unlink(ident)
    except (posix_ipc.Error, OSError) as err:
        raise _posix_error(err, "remove", object_name(k, ident)) from None
