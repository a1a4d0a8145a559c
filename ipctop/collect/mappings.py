"""Files mapped MAP_SHARED by two or more processes: found by the /proc scan's shared maps lines.

A shared mapping of a regular file is IPC when processes read and write through it for each
other, so a file is listed only when at least two processes map it shared (one process mapping a
file, or every program mapping a read-only system cache, is not IPC; ``via``/``access`` of the
users show who writes). The join groups the scanned maps by the file's (dev, inode) and leaves
out what another kind lists: SysV segments, /dev/shm objects that are still listed, shared
anonymous memory and memfds (collect/shmem.py), device files.
"""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

from ipctop.collect.common import mode_str, user_name
from ipctop.collect.shmem import MEMFD_PREFIX, anon_shm_name
from ipctop.kinds import PosixSem, PosixShm, SharedMapping
from ipctop.model import IpcObject

if TYPE_CHECKING:
    from ipctop.join import Join


MIN_MAPPERS = 2
"""A file is listed once this many processes map it shared."""


def join_shared_mappings(join: Join, dev_shm: list[PosixShm | PosixSem]) -> list[IpcObject]:
    """MAP_SHARED maps of files by two or more processes: not SysV, not device files, not
    listed /dev/shm objects, not shared anonymous memory or memfds.

    A /dev/shm file that is mapped but no longer listed (shm_unlink while mapped) is kept
    here, deleted; the semaphore creator's temp name matches its sem.NAME and is not.
    """
    from ipctop.join import stat_or_none

    listed = {(o.dev, o.inode) for o in dev_shm}
    out: list[IpcObject] = []
    ids: set[str] = set()
    for key, maps in join.maps_by_file.items():
        if key in listed:
            continue
        first = maps[0]
        path = first.path
        if not path.startswith("/"):
            continue  # anon_inode:..., [anon_shmem:NAME], [special]
        if len({m.pid for m in maps}) < MIN_MAPPERS:
            continue  # one process mapping a file is not IPC
        if path.startswith(MEMFD_PREFIX) or anon_shm_name(first)[0]:
            continue  # kinds of their own
        if path.startswith("/dev/") and not path.startswith("/dev/shm/"):
            continue  # /dev/zero (shared anonymous), /dev/dri/..., other devices
        if path.startswith("/dev/shm/") and not first.deleted:
            continue  # a listed object's file, or one created after the listing
        deleted = any(m.deleted for m in maps)
        size = uid = None
        mode = None
        ctime = None
        if join.live and not deleted:
            st = stat_or_none(path)
            if st is not None and (st.st_dev, st.st_ino) == key:
                if not stat.S_ISREG(st.st_mode):
                    continue
                size, uid, mode, ctime = st.st_size, st.st_uid, mode_str(st.st_mode), \
                    st.st_ctime
        # One path can name two files: one replaced while mapped (the old one "(deleted)"), or
        # the same path under another root (a chroot, a container sharing the mount
        # namespace). The id tells them apart, so every object is listed once.
        ident = path if path not in ids else f"{path} (inode {key[1]})"
        ids.add(ident)
        out.append(SharedMapping(
            id=ident, name=path, path=path, dev=key[0], inode=key[1], deleted=deleted,
            size=size, uid=uid, owner=user_name(uid) if uid is not None else None,
            mode=mode, ctime=ctime, users=join.map_users(maps),
        ))
    return out
