"""Container names from cgroup paths and launcher command lines (fixture strings, as the runtimes
and systemd write them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipctop.collect.containers import cgroup_path, from_cgroup, from_launcher, from_tree
from ipctop.model import Process

ID = "3f1a9c2b7d4e" + "0123456789abcdef" * 3 + "0123"
assert len(ID) == 64
POD = "0f5d2a1c-7b3e-4c2d-9e8f-123456789abc"


@pytest.mark.parametrize(("text", "name"), [
    # Docker, systemd cgroup driver (v2) and cgroupfs driver (v1)
    (f"0::/system.slice/docker-{ID}.scope\n", "docker 3f1a9c2b7d4e"),
    (f"12:pids:/docker/{ID}\n1:name=systemd:/docker/{ID}\n0::/\n", "docker 3f1a9c2b7d4e"),
    (f"12:pids:/docker/{ID}\n1:name=systemd:/docker/{ID}\n", "docker 3f1a9c2b7d4e"),
    # Podman (root and rootless), CRI-O, containerd
    (f"0::/machine.slice/libpod-{ID}.scope/container\n", "podman 3f1a9c2b7d4e"),
    (f"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope\n",
     "podman 3f1a9c2b7d4e"),
    (f"0::/machine.slice/libpod-conmon-{ID}.scope\n", None),  # the monitor, not the container
    (f"0::/system.slice/crio-{ID}.scope\n", "cri-o 3f1a9c2b7d4e"),
    # Kubernetes: systemd driver (pod uid with underscores) and cgroupfs driver
    (f"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
     f"{POD.replace('-', '_')}.slice/cri-containerd-{ID}.scope\n",
     f"k8s pod {POD} (containerd 3f1a9c2b7d4e)"),
    (f"0::/kubepods.slice/kubepods-pod{POD.replace('-', '_')}.slice/crio-{ID}.scope\n",
     f"k8s pod {POD} (cri-o 3f1a9c2b7d4e)"),
    (f"0::/kubepods/burstable/pod{POD}/{ID}\n", f"k8s pod {POD} (container 3f1a9c2b7d4e)"),
    (f"0::/kubepods/burstable/pod{POD}\n", f"k8s pod {POD}"),
    # systemd-nspawn (unit and machine scope, with systemd's escaping), LXC
    ("0::/machine.slice/systemd-nspawn@web\\x2d1.service/payload\n", "nspawn web-1"),
    ("0::/machine.slice/machine-db.scope\n", "nspawn db"),
    ("0::/lxc.payload.db1/init.scope\n", "lxc db1"),
    ("4:memory:/lxc/db2\n", "lxc db2"),
    # A systemd service (PrivateIPC=, PrivateTmp=...); sessions and user managers are no container
    ("0::/system.slice/redis-server.service\n", "unit redis-server.service"),
    ("0::/user.slice/user-1000.slice/session-3.scope\n", None),
    ("0::/user.slice/user-1000.slice/user@1000.service/app.slice/x.service\n", None),
    ("0::/init.scope\n", None),
    ("", None),
])
def test_container_from_cgroup(text: str, name: str | None) -> None:
    assert from_cgroup(text, docker_root=None) == name


def test_cgroup_path_prefers_the_unified_line() -> None:
    assert cgroup_path("5:cpu:/a\n1:name=systemd:/b\n0::/c\n") == "/c"
    assert cgroup_path("5:cpu:/a\n1:name=systemd:/b\n") == "/b"
    assert cgroup_path("5:cpu:/a\n") == "/a"
    assert cgroup_path("garbage") is None


def test_docker_name_from_its_config(tmp_path: Path) -> None:
    (tmp_path / ID).mkdir()
    (tmp_path / ID / "config.v2.json").write_text(json.dumps({"Name": "/web"}))
    text = f"0::/system.slice/docker-{ID}.scope\n"
    assert from_cgroup(text, docker_root=str(tmp_path)) == "docker web (3f1a9c2b7d4e)"
    (tmp_path / ID / "config.v2.json").write_text("{not json")
    assert from_cgroup(text, docker_root=str(tmp_path)) == "docker 3f1a9c2b7d4e"


@pytest.mark.parametrize(("comm", "cmdline", "name"), [
    ("containerd-shim", f"/usr/bin/containerd-shim-runc-v2 -namespace moby -id {ID} -address x",
     "containerd 3f1a9c2b7d4e"),
    ("conmon", f"/usr/bin/conmon --api-version 1 -c {ID} -u {ID} -n web", "podman web"),
    ("conmon", f"/usr/bin/conmon -c {ID}", "podman 3f1a9c2b7d4e"),
    ("systemd-nspawn", "systemd-nspawn -b -M build --quiet", "nspawn build"),
    ("systemd-nspawn", "systemd-nspawn --machine=build2", "nspawn build2"),
    ("systemd-nspawn", "systemd-nspawn -D /var/lib/machines/deb/", "nspawn deb"),
    ("lxc-start", "lxc-start -n db -d", "lxc db"),
    ("bash", "bash -c unshare", None),
])
def test_container_from_launcher(comm: str, cmdline: str, name: str | None) -> None:
    assert from_launcher(comm, cmdline) == name


def test_container_from_the_process_tree() -> None:
    def proc(pid: int, ppid: int, comm: str, cmdline: str) -> Process:
        return Process(pid, ppid, comm, cmdline, "root", 0)

    processes = {p.pid: p for p in (
        proc(1, 0, "systemd", "/sbin/init"),
        proc(50, 1, "conmon", "/usr/bin/conmon -n web"),
        proc(51, 50, "nginx", "nginx: master"),
        proc(52, 51, "nginx", "nginx: worker"),
        proc(60, 1, "sshd", "sshd"),
        proc(61, 60, "bash", "-bash"),
    )}
    assert from_tree(52, processes) == "podman web"
    assert from_tree(61, processes) is None
    assert from_tree(999, processes) is None
