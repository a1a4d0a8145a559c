"""`ipctop metrics`: the text format on real objects, equal to what `snapshot --json` says.

Other engineers' tests create and remove objects while these run, so two runs of ipctop in the
machine's namespaces never see quite the same objects. The equality test therefore runs both
commands in fresh IPC, mount and PID namespaces (its own SysV objects, /dev/shm, /dev/mqueue
and /proc: no other process's queue fds either), where only this test's objects exist and
counts must agree exactly; everything in them vanishes with the namespaces, also when the test
fails. The second test checks tagged
objects in the machine's own namespaces, series by series.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import posix_ipc
import pytest
import sysv_ipc
from conftest import Spawn, Tag
from prometheus_client.parser import text_string_to_metric_families
from promtools import promtool

from ipctop.metrics import label_text

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]

NS_KINDS = "sysv-shm,sysv-msg,sysv-sem,posix-shm,posix-mq,posix-sem"


def ipctop(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipctop", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def parse(text: str) -> Samples:
    out: Samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def per_object(samples: Samples, name: str) -> dict[tuple[str, str], float]:
    """(kind, id) -> value of a per-object series, for objects of ipctop's own namespaces (ids
    repeat in others: other suites' containers and namespaces come and go meanwhile)."""
    return {(dict(k)["kind"], dict(k)["id"]): v for k, v in samples.get(name, {}).items()
            if not dict(k).get("namespace")}


HOLDER = textwrap.dedent("""\
    import os, sys, time
    import posix_ipc, sysv_ipc
    keys = [int(k) for k in sys.argv[1:6]]
    names = sys.argv[6:]
    attached = sysv_ipc.SharedMemory(keys[0], sysv_ipc.IPC_CREX, size=4096, mode=0o600)
    sysv_ipc.SharedMemory(keys[1], sysv_ipc.IPC_CREX, size=3 * 4096, mode=0o640).detach()
    q = sysv_ipc.MessageQueue(keys[2], sysv_ipc.IPC_CREX)
    for m in (b"one", b"two", b"three"):
        q.send(m)
    sysv_ipc.Semaphore(keys[3], sysv_ipc.IPC_CREX, initial_value=1)
    pid = os.fork()
    if pid == 0:  # a creator that leaves: its never-attached segment is a leak
        sysv_ipc.SharedMemory(keys[4], sysv_ipc.IPC_CREX, size=2 * 4096).detach()
        os._exit(0)
    os.waitpid(pid, 0)
    shm = posix_ipc.SharedMemory(names[0], posix_ipc.O_CREX, size=8192)
    raw = os.open(os.fsencode("/dev/shm" + names[1]) + b"-\\xff\\xfe",
                  os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    os.ftruncate(raw, 5000)
    mq = posix_ipc.MessageQueue(names[2], posix_ipc.O_CREX, max_messages=4,
                                max_message_size=64)
    mq.send(b"a")
    mq.send(b"bb")
    posix_ipc.Semaphore(names[3], posix_ipc.O_CREX, initial_value=2)
    print("ready", flush=True)
    time.sleep(110)
""")

def evil_name(tag: Tag) -> str:
    """A /dev/shm name nobody makes: a quote, a brace, a newline, an escape sequence, a
    backslash (to forge samples or labels in the exposition, or drive a terminal)."""
    return f'/ipctop5-{tag.text}-evil"}} 1\n\x1b[2J{{x="1"}} \\'

NS_SCRIPT = textwrap.dedent("""\
    set -eu
    mount -t tmpfs -o size=16m,mode=1777 ipctop-test /dev/shm
    mkdir -p /dev/mqueue && mount -t mqueue ipctop-test /dev/mqueue
    coproc HOLD { exec timeout 120 "$PY" "$OUT/holder.py" "$@"; }
    read -r -t 60 line <&"${HOLD[0]}" || line="(nothing)"
    [ "$line" = ready ] || { echo "holder failed: $line" >&2; exit 3; }
    # An unprivileged user names a file to break the exposition format and the terminal.
    setpriv --reuid=65534 --regid=65534 --clear-groups "$PY" -c 'import os, sys
    fd = os.open(os.fsencode(sys.argv[1]), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.ftruncate(fd, 777)' "/dev/shm$EVIL"
    export IPCTOP_IGNORE_UNREADABLE=1
    "$PY" -m ipctop snapshot --json --kind "$KINDS" > "$OUT/snap.json"
    "$PY" -m ipctop metrics --kind "$KINDS" --top 1000 > "$OUT/metrics.prom"
    kill "$HOLD_PID"
""")


def run_in_fresh_namespaces(tmp_path: Path, tag: Tag) -> tuple[dict[str, Any], Samples, str]:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for private IPC, mount and PID namespaces")
    (tmp_path / "holder.py").write_text(HOLDER)
    keys = [str(tag.key()) for _ in range(5)]
    names = [tag.name(w) for w in ("data", "raw", "queue", "sem")]
    env = {**os.environ, "PY": sys.executable, "OUT": str(tmp_path), "KINDS": NS_KINDS,
           "EVIL": evil_name(tag)}
    done = subprocess.run(["unshare", "--ipc", "--mount", "--propagation", "private", "--pid",
                           "--fork", "--mount-proc", "bash", "-c", NS_SCRIPT, "ns", *keys, *names],
                          capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "metrics.prom").read_text()
    return json.loads((tmp_path / "snap.json").read_text()), parse(text), text


def test_metrics_equal_snapshot_json_for_the_same_objects(tmp_path: Path, tag: Tag) -> None:
    doc, m, _ = run_in_fresh_namespaces(tmp_path, tag)
    objs = doc["objects"]
    kinds = [k.replace("-", "_") for k in NS_KINDS.split(",")]
    # The namespaces hold this test's objects only.
    assert Counter(o["kind"] for o in objs) == {"sysv_shm": 3, "sysv_msg": 1, "sysv_sem": 1,
                                                "posix_shm": 3, "posix_mq": 1, "posix_sem": 1}

    def kind_series(name: str) -> dict[str, float]:
        return {dict(k)["kind"]: v for k, v in m[name].items()}

    assert kind_series("ipctop_objects") == {
        k: sum(1 for o in objs if o["kind"] == k) for k in kinds}
    assert kind_series("ipctop_object_bytes") == {
        k: sum(o["size"] or 0 for o in objs if o["kind"] == k) for k in kinds}
    assert kind_series("ipctop_queue_messages") == {"sysv_msg": 3, "posix_mq": 2}
    leaks = Counter((o["kind"], o["leak"]["status"]) for o in objs if o["leak"])
    assert leaks[("sysv_shm", "leak")] == 1  # the segment whose creator left
    assert {(dict(k)["kind"], dict(k)["status"]): v for k, v in m["ipctop_leaks"].items()
            if v} == leaks
    assert m["ipctop_leak_reclaimable_bytes"][()] == sum(
        o["leak"]["reclaim_bytes"] for o in objs if o["leak"] and o["leak"]["status"] == "leak")
    limits = {dict(k)["limit"]: v for k, v in m["ipctop_limit_used"].items()}
    assert limits["sysv_shm_segments"] == 3 and limits["sysv_msg_queues"] == 1
    assert limits["sysv_shm_bytes"] == (1 + 3 + 2) * 4096

    sizes = per_object(m, "ipctop_object_size_bytes")
    procs = per_object(m, "ipctop_object_processes")
    sized = [o for o in objs if o["size"] is not None]
    # --top 1000 covers them all; a name that is not UTF-8 is a label with \xNN escapes.
    assert set(sizes) == {(o["kind"], label_text(o["id"])) for o in sized}
    for o in sized:
        ident = (o["kind"], label_text(o["id"]))
        assert sizes[ident] == o["size"], ident
        assert procs[ident] == len({u["pid"] for u in o["users"]}), ident
    holder_pids = {u["pid"] for o in objs for u in o["users"]}
    assert len(holder_pids) == 1  # the holder, attached to one segment, holding fds
    assert max(procs.values()) == 1


def test_non_utf8_names_become_escaped_labels(tmp_path: Path, tag: Tag) -> None:
    doc, m, text = run_in_fresh_namespaces(tmp_path, tag)
    raw = [o for o in doc["objects"]
           if o["kind"] == "posix_shm" and o["id"].endswith("-raw-\udcff\udcfe")]
    assert len(raw) == 1, [o["id"] for o in doc["objects"]]
    names = {dict(k)["name"] for k in m["ipctop_object_size_bytes"]}
    assert label_text(raw[0]["name"]) in names
    assert label_text(raw[0]["name"]).endswith("-raw-\\xff\\xfe")
    text.encode("utf-8")  # the whole exposition is valid UTF-8


def test_names_an_unprivileged_user_chooses_stay_inside_their_label(tmp_path: Path,
                                                                    tag: Tag) -> None:
    doc, m, text = run_in_fresh_namespaces(tmp_path, tag)
    evil = evil_name(tag)
    [obj] = [o for o in doc["objects"] if o["id"] == evil]
    assert obj["owner"] == "nobody" and obj["size"] == 777
    labels = [dict(k) for k in m["ipctop_object_size_bytes"] if dict(k)["id"] == evil]
    assert labels == [{"kind": "posix_shm", "id": evil, "key": "", "name": evil,
                       "owner": "nobody", "container": "", "namespace": ""}]
    assert "x" not in {k for f in m.values() for lab in f for k, _ in lab}  # no injected label
    # Written escaped on one line: no raw newline inside a label, so no forged sample.
    assert not any(line.startswith(("1", "\x1b", "{x=")) for line in text.splitlines())


def test_promtool_check_metrics_accepts_the_output(tmp_path: Path, tag: Tag) -> None:
    tool = promtool()
    _, _, text = run_in_fresh_namespaces(tmp_path, tag)
    done = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    host = ipctop("metrics", "--top", "100")  # and what the machine's own objects give
    assert host.returncode == 0, host.stderr
    done = subprocess.run([tool, "check", "metrics"], input=host.stdout, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_tagged_objects_series_match_snapshot_json(tag: Tag, spawn: Spawn) -> None:
    segs = [sysv_ipc.SharedMemory(tag.key(), sysv_ipc.IPC_CREX, size=n * 4096)
            for n in (1, 2, 5)]
    for seg in segs:
        tag.undo(seg.remove)
        seg.detach()
    name = tag.name("held")
    shm = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, size=3 * 4096)
    tag.undo(shm.unlink)
    os.close(shm.fd)

    def hold() -> bytes:  # a child attached to the first segment with the POSIX one open
        seg = sysv_ipc.SharedMemory(segs[0].key)
        seg.attach()
        posix_ipc.SharedMemory(name)
        return b""

    spawn(hold)
    kinds = "sysv-shm,posix-shm"
    m = parse(ipctop("metrics", "--kind", kinds, "--top", "100000").stdout)
    doc = json.loads(ipctop("snapshot", "--json", "--kind", kinds).stdout)
    ours = {(o["kind"], o["id"]): o for o in doc["objects"]
            if tag.text in (o["key"] or "") or tag.text in (o["name"] or "")}
    assert len(ours) == 4
    sizes = per_object(m, "ipctop_object_size_bytes")
    procs = per_object(m, "ipctop_object_processes")
    for ident, o in ours.items():
        assert sizes[ident] == o["size"]
        assert procs[ident] == len({u["pid"] for u in o["users"]})
    assert sorted(sizes[i] for i in ours) == [4096, 2 * 4096, 3 * 4096, 5 * 4096]
    assert sorted(procs[i] for i in ours) == [0, 0, 1, 1]


def test_bad_arguments_say_one_line_and_exit_2() -> None:
    for args, words in [(("--top", "x"), "not a whole number"),
                        (("--top", "-3"), "must be 0 or more"),
                        (("--kind", "nope"), "unknown kind")]:
        done = ipctop("metrics", *args)
        assert done.returncode == 2 and done.stdout == ""
        assert words in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_parser_and_other_commands_never_import_prometheus_client() -> None:
    code = textwrap.dedent("""\
        import sys
        from ipctop import cli
        cli.build_parser()  # every command registered, as for --help
        cli.build_parser(["snapshot", "--json"])
        cli.build_parser(["metrics"]).parse_args(["metrics", "--top", "3"])
        print(sorted(m for m in sys.modules if m.split(".")[0] == "prometheus_client"))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
