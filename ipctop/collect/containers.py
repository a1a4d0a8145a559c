"""Which container a process runs in, from its cgroup path or the process that started it.

Container runtimes put each container's processes in a cgroup named after it, so the path in
/proc/PID/cgroup says "docker", "podman", "cri-o" or "containerd" and the container id; Kubernetes
adds the pod's uid; systemd names nspawn machines and services. When the cgroup says nothing
(a runtime that leaves the cgroup alone, ``unshare`` in a shell), the process tree may: the
container's first process was started by a shim (``containerd-shim -id ID``, ``conmon -n NAME``,
``systemd-nspawn -M NAME``, ``lxc-start -n NAME``). These are plain functions of text, tested on
fixture strings; no Textual.

Names read like "docker 3f1a9c2b7d4e" (ids cut to 12 hex digits, as ``docker ps`` shows them),
"k8s pod 0f5d... (containerd 3f1a9c2b7d4e)", "nspawn web", "lxc db", "unit redis.service".
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping

from ipctop.model import Process

_ID = r"([0-9a-f]{64})"
_RUNTIMES = (
    (re.compile(rf"^docker-{_ID}\.scope$"), "docker"),
    (re.compile(rf"^libpod-{_ID}\.scope$"), "podman"),
    (re.compile(rf"^crio-{_ID}\.scope$"), "cri-o"),
    (re.compile(rf"^cri-containerd-{_ID}\.scope$"), "containerd"),
)
_BARE_ID = re.compile(rf"^{_ID}$")
_POD = re.compile(r"^(?:kubepods(?:-[a-z]+)?-)?pod([0-9a-f_-]{32,36})(?:\.slice)?$")
_NSPAWN = re.compile(r"^systemd-nspawn@(.+)\.service$")
_MACHINE = re.compile(r"^machine-(.+)\.scope$")
_SERVICE = re.compile(r"^(.+)\.service$")
_UNESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")

DOCKER_ROOT = "/var/lib/docker/containers"


def cgroup_paths(text: str) -> list[str]:
    """The paths of /proc/PID/cgroup, in the order to judge them: the unified (v2) line
    "0::/path", the systemd (v1) hierarchy, then the others as listed. (On a hybrid host the
    v2 line can be "/" while the v1 hierarchies name the container.)"""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            paths.setdefault(parts[1], parts[2])
    first = [paths.pop(c) for c in ("", "name=systemd") if c in paths]
    return first + list(paths.values())


def cgroup_path(text: str) -> str | None:
    """The first path :func:`cgroup_paths` would judge, None when there is none."""
    paths = cgroup_paths(text)
    return paths[0] if paths else None


def _unescape(unit: str) -> str:
    """systemd unit names escape "-" and other bytes as \\xNN."""
    return _UNESCAPE.sub(lambda m: chr(int(m.group(1), 16)), unit)


def from_cgroup(text: str, docker_root: str | None = DOCKER_ROOT) -> str | None:
    """The container named by the cgroup file ``text``, or None (the host, or a login session).

    ``docker_root``: where to look up a Docker container's name by its id (None: never).
    """
    for path in cgroup_paths(text):
        name = _from_path(path, docker_root)
        if name:
            return name
    return None


def _from_path(path: str, docker_root: str | None) -> str | None:
    segments = [s for s in path.split("/") if s]
    if not segments:
        return None
    pod = None
    found = None
    for i, seg in enumerate(segments):
        m = _POD.match(seg)
        if m and any(x.startswith("kubepods") for x in segments[:i + 1]):
            pod = m.group(1).replace("_", "-")
            continue
        for pattern, runtime in _RUNTIMES:
            m = pattern.match(seg)
            if m:
                found = (runtime, m.group(1))
        m = _BARE_ID.match(seg)
        if m and i > 0:
            parent = segments[i - 1]
            if parent == "docker":
                found = ("docker", m.group(1))
            elif parent == "libpod_parent":
                found = ("podman", m.group(1))
            elif pod is not None:
                found = ("container", m.group(1))
    if found is not None:
        runtime, ident = found
        name = f"{runtime} {ident[:12]}"
        if runtime == "docker" and docker_root is not None:
            nice = docker_name(docker_root, ident)
            if nice:
                name = f"docker {nice} ({ident[:12]})"
        return f"k8s pod {pod} ({name})" if pod else name
    if pod:
        return f"k8s pod {pod}"
    for i, seg in enumerate(segments):
        if seg.startswith("lxc.payload."):
            return f"lxc {seg[len('lxc.payload.'):]}"
        if seg == "lxc" and i + 1 < len(segments):
            return f"lxc {segments[i + 1]}"
        m = _NSPAWN.match(seg)
        if m:
            return f"nspawn {_unescape(m.group(1))}"
        m = _MACHINE.match(seg)
        if m and i > 0 and segments[i - 1] == "machine.slice":
            return f"nspawn {_unescape(m.group(1))}"
    last = segments[-1]
    m = _SERVICE.match(last)
    if m and len(segments) >= 2 and segments[-2] == "system.slice":
        return f"unit {_unescape(last)}"
    return None


def docker_name(root: str, ident: str) -> str | None:
    """A Docker container's name from its config (root-owned, under /var/lib/docker)."""
    try:
        with open(os.path.join(root, ident, "config.v2.json"), "rb") as f:
            name = json.loads(f.read(1 << 20)).get("Name")
    except (OSError, ValueError, AttributeError):
        return None
    return name.lstrip("/") if isinstance(name, str) and name.strip("/") else None


def _arg(argv: list[str], *flags: str) -> str | None:
    """The value of the first of ``flags`` in ``argv`` ("-n X", "--name X" or "--name=X")."""
    for i, arg in enumerate(argv):
        for flag in flags:
            if arg == flag and i + 1 < len(argv):
                return argv[i + 1]
            if flag.startswith("--") and arg.startswith(flag + "="):
                return arg[len(flag) + 1:]
    return None


def from_launcher(comm: str, cmdline: str) -> str | None:
    """The container a shim or container manager process was started for, from its command."""
    argv = cmdline.split()
    if comm.startswith("containerd-shim"):
        ident = _arg(argv, "-id", "--id")
        return f"containerd {ident[:12]}" if ident else None
    if comm == "conmon":
        name = _arg(argv, "-n", "--name")
        ident = _arg(argv, "-c", "--cid")
        if name:
            return f"podman {name}"
        return f"podman {ident[:12]}" if ident else None
    if comm == "systemd-nspawn":
        name = _arg(argv, "-M", "--machine")
        if name is None:
            directory = _arg(argv, "-D", "--directory")
            name = os.path.basename(directory.rstrip("/")) if directory else None
        return f"nspawn {name}" if name else None
    if comm.startswith("lxc-start"):
        name = _arg(argv, "-n", "--name")
        return f"lxc {name}" if name else None
    return None


def from_tree(pid: int, processes: Mapping[int, Process], depth: int = 8) -> str | None:
    """The container a launcher above ``pid`` (its parent, grandparent...) was started for."""
    seen = 0
    p = processes.get(pid)
    while p is not None and seen < depth and p.ppid > 0:
        parent = processes.get(p.ppid)
        if parent is None:
            return None
        name = from_launcher(parent.comm, parent.cmdline)
        if name:
            return name
        p = parent
        seen += 1
    return None


def container_of(proc: str, pid: int, processes: Mapping[int, Process]) -> str | None:
    """The container of process ``pid``: its cgroup, else the process tree; None if neither
    says (or the process is gone)."""
    try:
        with open(f"{proc}/{pid}/cgroup", encoding="utf-8", errors="replace") as f:
            text = f.read(1 << 16)
    except OSError:
        text = ""
    return from_cgroup(text) or from_tree(pid, processes)
