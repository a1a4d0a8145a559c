"""The exporter against the real thing: Debian's Prometheus server scrapes `ipctop serve` every
second and answers PromQL about this test's objects; promtool accepts contrib's alert rules and
their unit tests pass; the Grafana dashboard is JSON whose queries use only series ipctop has.

Every server runs on a free loopback port, every wait is bounded, and both servers are killed at
teardown, also when a test fails."""

from __future__ import annotations

import json
import re
import select
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import posix_ipc
import pytest
import sysv_ipc
from conftest import Tag
from prometheus_client.parser import text_string_to_metric_families
from promtools import prometheus, promtool

from ipctop.metrics import empty_families

ROOT = Path(__file__).resolve().parent.parent
CONTRIB = ROOT / "contrib"
WAIT = 60.0
"""Upper bound of each wait, seconds (Prometheus starts in ~2 s on a quiet machine)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def http_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


@pytest.fixture
def exporter() -> Iterator[str]:
    """`ipctop serve` on a free port, for SysV and POSIX shared memory; yields host:port."""
    proc = subprocess.Popen([sys.executable, "-m", "ipctop", "serve", "--listen",
                             "127.0.0.1:0", "--kind", "sysv-shm,posix-shm", "--top", "100000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stderr], [], [], WAIT)
        assert ready and proc.stderr is not None, "ipctop serve said nothing"
        line = proc.stderr.readline()
        match = re.search(r"http://(127\.0\.0\.1:\d+)/metrics", line)
        assert match, f"unexpected first line from ipctop serve: {line!r}"
        yield match.group(1)
    finally:
        stop(proc)


@pytest.fixture
def prometheus_server(exporter: str, tmp_path: Path) -> Iterator[str]:
    """A Prometheus server scraping ``exporter`` every second; yields its base URL."""
    binary = prometheus()
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: ipctop\n    scrape_timeout: 1s\n"
        f"    static_configs:\n      - targets: ['{exporter}']\n"
    )
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen([binary, f"--config.file={config}",
                             f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT
        while True:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(base + "/-/ready", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, "Prometheus did not become ready"
            time.sleep(0.2)
        yield base
    finally:
        stop(proc)
        log.close()


def query(base: str, promql: str) -> list[dict[str, Any]]:
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    doc = http_json(url)
    assert doc["status"] == "success", doc
    return list(doc["data"]["result"])


def wait_for_value(base: str, promql: str, want: float) -> list[dict[str, Any]]:
    """Poll ``promql`` until its single value is ``want``; fail (with the last answer) after
    WAIT seconds."""
    deadline = time.monotonic() + WAIT
    result: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        result = query(base, promql)
        if len(result) == 1 and float(result[0]["value"][1]) == want:
            return result
        time.sleep(0.5)
    raise AssertionError(f"{promql} never became {want}; last answer: {result}")


def test_prometheus_scrapes_serve_and_counts_our_objects(tag: Tag,
                                                         prometheus_server: str) -> None:
    sizes = (1, 2, 4)
    for n in sizes:
        seg = sysv_ipc.SharedMemory(tag.key(), sysv_ipc.IPC_CREX, size=n * 4096)
        tag.undo(seg.remove)
        seg.detach()
    for what in ("a", "b"):
        name = tag.name(what)
        shm = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, size=8192)
        tag.undo(shm.unlink)
        shm.close_fd()
    base = prometheus_server
    wait_for_value(base, 'up{job="ipctop"}', 1)
    ours_sysv = f'ipctop_object_size_bytes{{kind="sysv_shm",key=~"{tag.text}.*"}}'
    ours_posix = f'ipctop_object_size_bytes{{kind="posix_shm",name=~".*{tag.text}.*"}}'
    wait_for_value(base, f"count({ours_sysv})", len(sizes))
    wait_for_value(base, f"sum({ours_sysv})", sum(sizes) * 4096)
    wait_for_value(base, f"count({ours_posix})", 2)
    # Per-kind series are there too, and agree with the per-object ones about our objects.
    [row] = query(base, 'ipctop_objects{kind="sysv_shm"}')
    assert float(row["value"][1]) >= len(sizes)
    assert query(base, 'ipctop_scrape_duration_seconds{job="ipctop"} >= 0')


def test_contrib_alert_rules_pass_promtool_check_and_their_unit_tests() -> None:
    tool = promtool()
    rules = CONTRIB / "prometheus" / "ipctop-alerts.yml"
    done = subprocess.run([tool, "check", "rules", str(rules)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 3 rules found" in done.stdout
    done = subprocess.run([tool, "test", "rules", "ipctop-alerts.test.yml"],
                          cwd=rules.parent, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def exporter_series() -> set[str]:
    return {f.name for f in empty_families()}


def test_contrib_rules_and_dashboard_use_only_series_ipctop_has() -> None:
    names = exporter_series()
    rules = (CONTRIB / "prometheus" / "ipctop-alerts.yml").read_text()
    used = set(re.findall(r"\bipctop_[a-z_]+", rules))
    assert used and used <= names, used - names
    dash = json.loads((CONTRIB / "grafana" / "ipctop-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 10
    used = {n for e in exprs for n in re.findall(r"\bipctop_[a-z_]+", e)}
    assert used <= names, used - names
    # Every series the exporter has appears on the dashboard, except the version.
    assert names - used == {"ipctop_build_info"}
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))


def test_contrib_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed (package systemd)")
    ipctop_bin = str(Path(sys.executable).with_name("ipctop"))
    for unit in sorted((CONTRIB / "systemd").iterdir()):
        # The examples name /usr/local/bin/ipctop; verify checks that the program exists.
        (tmp_path / unit.name).write_text(
            unit.read_text().replace("/usr/local/bin/ipctop", ipctop_bin))
    units = sorted(str(p) for p in tmp_path.iterdir())
    assert len(units) == 3
    done = subprocess.run([analyze, "verify", "--man=no", *units], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr


def test_contrib_textfile_command_writes_a_whole_file(tmp_path: Path) -> None:
    unit = (CONTRIB / "systemd" / "ipctop-textfile.service").read_text()
    [line] = [ln for ln in unit.splitlines() if ln.startswith("ExecStart=")]
    command = line.removeprefix("ExecStart=/bin/sh -c ").strip("'")
    command = (command.replace("$$$$", "$$")  # systemd's escape of the shell's $$
               .replace("/var/lib/node_exporter", str(tmp_path))
               .replace("ipctop metrics", f"{sys.executable} -m ipctop metrics"))
    done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["ipctop.prom"]  # no temp file left
    text = (tmp_path / "ipctop.prom").read_text()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert names == exporter_series()
