"""Build fixture /proc and /dev trees under tmp_path, in the kernel's own formats.

The format strings are the kernel's (ipc/shm.c, ipc/msg.c, ipc/sem.c, net/unix/af_unix.c,
ipc/mqueue.c), so a parser that reads these reads the real files.
"""

from __future__ import annotations

from pathlib import Path

SHM_HEADER = (
    "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid"
    "      atime      dtime      ctime                   rss                  swap"
)
MSG_HEADER = (
    "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid"
    "      stime      rtime      ctime"
)
SEM_HEADER = (
    "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime"
)
UNIX_HEADER = "Num       RefCount Protocol Flags    Type St Inode Path"


def shm_line(
    *, key: int, shmid: int, perms: int = 0o600, size: int = 4096, cpid: int = 100,
    lpid: int = 0, nattch: int = 0, uid: int = 0, gid: int = 0, atime: int = 0, dtime: int = 0,
    ctime: int = 1700000000, rss: int = 0, swap: int = 0,
) -> str:
    """One row as ipc/shm.c prints it; ``key`` is signed, as the kernel keeps it."""
    return (
        f"{key:10d} {shmid:10d}  {perms:4o} {size:21d} {cpid:5d} {lpid:5d}  {nattch:5d}"
        f" {uid:5d} {gid:5d} {uid:5d} {gid:5d} {atime:10d} {dtime:10d} {ctime:10d}"
        f" {rss:21d} {swap:21d}"
    )


def msg_line(
    *, key: int, msqid: int, perms: int = 0o600, cbytes: int = 0, qnum: int = 0,
    lspid: int = 0, lrpid: int = 0, uid: int = 0, gid: int = 0, stime: int = 0, rtime: int = 0,
    ctime: int = 1700000000,
) -> str:
    return (
        f"{key:10d} {msqid:10d}  {perms:4o}  {cbytes:10d} {qnum:10d} {lspid:5d} {lrpid:5d}"
        f" {uid:5d} {gid:5d} {uid:5d} {gid:5d} {stime:10d} {rtime:10d} {ctime:10d}"
    )


def sem_line(
    *, key: int, semid: int, perms: int = 0o600, nsems: int = 1, uid: int = 0, gid: int = 0,
    otime: int = 0, ctime: int = 1700000000,
) -> str:
    return (
        f"{key:10d} {semid:10d}  {perms:4o} {nsems:10d} {uid:5d} {gid:5d} {uid:5d} {gid:5d}"
        f" {otime:10d} {ctime:10d}"
    )


def unix_line(
    *, inode: int, flags: int = 0, stype: int = 1, st: int = 1, path: str | None = None,
    num: int = 0, refcount: int = 2,
) -> str:
    """One /proc/net/unix row; abstract names are given with their leading "@"."""
    line = f"{num:016x}: {refcount:08X} {0:08X} {flags:08X} {stype:04X} {st:02X} {inode:5d}"
    return line if path is None else f"{line} {path}"


def write_table(proc: Path, relpath: str, header: str, lines: list[str]) -> Path:
    """Write ``proc``/``relpath`` as header + lines (each newline-terminated); return the path."""
    path = proc / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in [header, *lines]))
    return path


def write_sysvipc(proc: Path, which: str, lines: list[str]) -> Path:
    header = {"shm": SHM_HEADER, "msg": MSG_HEADER, "sem": SEM_HEADER}[which]
    return write_table(proc, f"sysvipc/{which}", header, lines)


def write_unix(proc: Path, lines: list[str]) -> Path:
    return write_table(proc, "net/unix", UNIX_HEADER, lines)


def qsize_text(qsize: int, notify: int = 0, signo: int = 0, notify_pid: int = 0) -> str:
    """The content of /dev/mqueue/NAME as ipc/mqueue.c prints it."""
    return f"QSIZE:{qsize:<10d} NOTIFY:{notify:<5d} SIGNO:{signo:<5d} NOTIFY_PID:{notify_pid:<6d}\n"


def write_file(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path
