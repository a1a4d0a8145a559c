"""POSIX shared memory, message queues and named semaphores, by "/name".

Shared memory is a file in /dev/shm and is handled as one, through :mod:`.posix_files` (opened as
hostile: no link followed, never blocking, type and filesystem checked on the fd). Queues go
through libc (:mod:`.posix_mq`), semaphores through their mapped sem_t (:mod:`.posix_sem`).
``posix_ipc`` (imported lazily) only creates semaphores, the one thing glibc does best (it
builds the sem_t in a temporary file and links it into place).

Names are bytes underneath: a name that is not UTF-8, listed by ``ipctop snapshot``, can be read,
written, changed and removed like any other.
"""

from __future__ import annotations

import errno
import os

from ipctop.actions import posix_mq, posix_sem
from ipctop.actions.common import (
    POSIX_SEM_VALUE_MAX,
    Created,
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
)
from ipctop.actions.posix_files import file_name, object_dir, open_file, os_error, unlink
from ipctop.errors import IpcError, UsageError
from ipctop.fmt import human_bytes
from ipctop.model import Kind

# --------------------------------------------------------------------------- create


def create(kind: Kind, name: str, perms: int, size: int | None, maxmsg: int | None,
           msgsize: int | None, value: int | None, exclusive: bool,
           reuse: bool = False) -> Created:
    label = object_name(kind, name)
    try:
        name.encode()
    except UnicodeEncodeError:
        raise UsageError(f"ipctop creates only names that are UTF-8 text: {label}") from None
    nbytes: int | None = None
    if kind is Kind.POSIX_SHM:
        nbytes = check_size(size, kind, devshm_capacity(), "the size of /dev/shm")
        made = _create_shm(name, perms, nbytes)
    elif kind is Kind.POSIX_MQ:
        made = _create_mq(name, perms, maxmsg, msgsize)
    else:
        made = _create_sem(name, perms, check_range("--value", 0 if value is None else value, 0,
                                                     POSIX_SEM_VALUE_MAX))
    if made:
        return Created(kind, name, created=True)
    if exclusive:
        raise UsageError(f"{label} already exists")
    # An existing one is looked at only if it is what it says (a planted FIFO or link is refused).
    differs: list[str] = []
    if kind is Kind.POSIX_MQ:
        with posix_mq.opened(name, os.O_RDONLY, "open") as (_fd, attr):
            differs = (differ("maxmsg", attr.mq_maxmsg, maxmsg)
                       + differ("msgsize", attr.mq_msgsize, msgsize))
    else:
        with open_file(kind, name, os.O_RDONLY, "open") as fd:
            if kind is Kind.POSIX_SHM:
                differs = differ("size", os.fstat(fd).st_size, nbytes)
    return existing(kind, name, None, differs, reuse)


def _create_shm(name: str, perms: int, nbytes: int) -> bool:
    """shm_open(O_CREAT | O_EXCL) relative to /dev/shm, sized; False if the name exists."""
    kind = Kind.POSIX_SHM
    fname = file_name(kind, name)
    with object_dir(kind) as dirfd:
        try:
            with exact_umask():
                fd = os.open(fname, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                             | os.O_CLOEXEC, perms, dir_fd=dirfd)
        except FileExistsError:
            return False
        except OSError as err:
            raise os_error(err, kind, name, "create") from None
        try:
            os.ftruncate(fd, nbytes)
        except OSError as err:
            os.unlink(fname, dir_fd=dirfd)  # leave nothing behind
            raise IpcError(f"cannot size {object_name(kind, name)} to {nbytes} bytes: "
                           f"{err.strerror}") from None
        finally:
            os.close(fd)
    return True


def _create_mq(name: str, perms: int, maxmsg: int | None, msgsize: int | None) -> bool:
    label = object_name(Kind.POSIX_MQ, name)
    default_n = kernel_limit("mq_msg_default") or 10
    default_size = kernel_limit("mq_msgsize_default") or 8192
    n = check_range("--maxmsg", default_n if maxmsg is None else maxmsg, 1,
                    kernel_limit("mq_msg_max"), " (fs.mqueue.msg_max)")
    size = check_range("--msgsize", default_size if msgsize is None else msgsize, 1,
                       kernel_limit("mq_msgsize_max"), " (fs.mqueue.msgsize_max)")
    attr = posix_mq.MqAttr(0, n, size, 0)
    try:
        with exact_umask():
            fd = posix_mq.mq_open(name, os.O_RDONLY | os.O_CREAT | os.O_EXCL, perms, attr)
    except OSError as err:
        if err.errno == errno.EEXIST:
            return False
        if err.errno in (errno.EACCES, errno.EPERM):
            raise IpcError(f"permission denied: cannot create {label}") from None
        if err.errno == errno.EMFILE:
            raise IpcError(f"cannot create {label}: its {n} x {size} bytes would pass this "
                           f"user's RLIMIT_MSGQUEUE ({_mq_rlimit()}, see `ulimit -q`) together "
                           "with the user's other queues") from None
        if err.errno == errno.ENOSPC:
            raise IpcError(f"cannot create {label}: the kernel's limit on objects is reached "
                           "(fs.mqueue.queues_max for queues)") from None
        raise IpcError(f"cannot create {label}: {err.strerror}") from None
    os.close(fd)
    return True


def _create_sem(name: str, perms: int, value: int) -> bool:
    import posix_ipc

    label = object_name(Kind.POSIX_SEM, name)
    try:
        with exact_umask():
            sem = posix_ipc.Semaphore(name, posix_ipc.O_CREX, perms, value)
    except posix_ipc.ExistentialError:
        return False
    except (posix_ipc.Error, OSError, ValueError) as err:
        if isinstance(err, posix_ipc.PermissionsError | PermissionError):
            raise IpcError(f"permission denied: cannot create {label}") from None
        if getattr(err, "errno", None) == errno.ENOSPC or "No space" in str(err):
            raise IpcError(f"cannot create {label}: /dev/shm is full") from None
        raise IpcError(f"cannot create {label}: {err}") from None
    sem.close()
    return True


def _mq_rlimit() -> str:
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_MSGQUEUE)
    return "unlimited" if soft == resource.RLIM_INFINITY else f"{soft} bytes"


# --------------------------------------------------------------------------- send, receive


def send(name: str, data: bytes, priority: int, timeout: float) -> None:
    posix_mq.send(name, data, priority, timeout)


def receive(name: str, timeout: float, count: int) -> list[Message]:
    return posix_mq.receive(name, timeout, count)


# --------------------------------------------------------------------------- shared memory


def shm_size(ident: str) -> int:
    with open_file(Kind.POSIX_SHM, ident, os.O_RDONLY, "read") as fd:
        return os.fstat(fd).st_size


def read_shm(ident: str, offset: int, length: int | None) -> bytes:
    """Read with pread, which cannot fault the way a mapping does if someone shrinks the object
    meanwhile."""
    k = Kind.POSIX_SHM
    name = object_name(k, ident)
    with open_file(k, ident, os.O_RDONLY, "read") as fd:
        size = os.fstat(fd).st_size
        n = size - offset if length is None else length
        check_span(name, size, offset, n, "read")
        return os.pread(fd, n, offset) if n else b""


def write_shm(ident: str, data: bytes, offset: int) -> int:
    k = Kind.POSIX_SHM
    name = object_name(k, ident)
    with open_file(k, ident, os.O_RDWR, "write") as fd:
        check_span(name, os.fstat(fd).st_size, offset, len(data), "write")
        try:
            return os.pwrite(fd, data, offset)
        except OSError as err:
            raise IpcError(f"cannot write {name}: {err.strerror}") from None


# --------------------------------------------------------------------------- semaphores


def sem_values(ident: str) -> tuple[int, ...]:
    return posix_sem.values(ident)


def sem_op(name: str, op: int, index: int, timeout: float) -> int:
    return posix_sem.op(name, op, index, timeout)


def sem_set(ident: str, value: int, index: int) -> int:
    return posix_sem.set_value(ident, value, index)


# --------------------------------------------------------------------------- remove


def describe_removal(k: Kind, ident: str, holders: int | None) -> str:
    detail = ""
    if k is Kind.POSIX_MQ:
        queued = posix_mq.queued(ident)
        if queued:
            detail = f"{plural(queued, 'message')} queued; "
    else:
        with open_file(k, ident, os.O_RDONLY, "look at") as fd:
            if k is Kind.POSIX_SHM:
                detail = f"{human_bytes(os.fstat(fd).st_size)}; "
    n = count_holders(k, ident) if holders is None else holders
    if n is None:
        return f"{detail}the name goes now (users unknown)"
    if n:
        return (f"{detail}open in {n_processes(n)}: the name goes now, the object when the last "
                "closes it")
    return f"{detail}no process has it open: destroyed now"


def remove(k: Kind, ident: str, *, only_if_unused: bool = False) -> None:
    """Unlink the object's name. ``only_if_unused``: only while the kernel confirms no process
    has it open or mapped (see :func:`.posix_files.unlink`)."""
    if k is Kind.POSIX_MQ and not _mqueue_mounted():
        if only_if_unused:
            raise IpcError(f"{object_name(k, ident)}: /dev/mqueue is not mounted, so ipctop "
                           "cannot make sure no process uses it: not removed")
        posix_mq.unlink(ident)
        return
    unlink(k, ident, only_if_unused=only_if_unused)


def _mqueue_mounted() -> bool:
    from ipctop.collect.posix import mqueue_mounted

    return mqueue_mounted()


