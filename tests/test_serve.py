"""`ipctop serve`: /metrics, /, 404s, scrapes that share one scan, and stopping on SIGTERM and
Ctrl-C. In-process with a fake ``take`` where timing matters (a scan that waits until told), and
through a real process for what a user sees (the listening line, exit status 0, no traceback)."""

from __future__ import annotations

import contextlib
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from fakes import T0
from prometheus_client.parser import text_string_to_metric_families

from ipctop import cli
from ipctop.kinds import SysvShm
from ipctop.model import Snapshot
from ipctop.serve import Coalescer, start_server, url_of

WAIT = 20.0
"""Upper bound of every wait in these tests, seconds."""


def get(url: str, method: str = "GET") -> tuple[int, str]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=WAIT) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def objects_count(text: str) -> float:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "ipctop_objects" and s.labels["kind"] == "sysv_shm":
                return s.value
    raise AssertionError("no ipctop_objects{kind=sysv_shm}")


def wait_for(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@dataclass
class SlowTake:
    """A fake ``take``: call n returns n SysV segments, once ``release`` is set."""

    release: threading.Event = field(default_factory=threading.Event)
    fail: bool = False
    calls: int = 0
    active: int = 0
    most_active: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self) -> Snapshot:
        with self.lock:
            self.calls += 1
            self.active += 1
            self.most_active = max(self.most_active, self.active)
            n = self.calls
        try:
            assert self.release.wait(WAIT), "never released"
            if self.fail:
                raise RuntimeError("the scan broke")
            objs = tuple(SysvShm(id=str(i), size=4096, nattch=0, cpid=1, lpid=1)
                         for i in range(n))
            return Snapshot(taken_at=T0, hostname="h", objects=objs)
        finally:
            with self.lock:
                self.active -= 1


@dataclass
class Running:
    url: str
    take: SlowTake
    coalescer: Coalescer


@pytest.fixture
def running() -> Iterator[Running]:
    take = SlowTake()
    server, coalescer = start_server("127.0.0.1", 0, take, kinds=None, top=5)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield Running(url_of(server), take, coalescer)
    finally:
        take.release.set()
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


def test_concurrent_scrapes_share_one_scan_and_scans_never_overlap(running: Running) -> None:
    results: list[tuple[int, str]] = []
    threads = [threading.Thread(target=lambda: results.append(get(running.url)))
               for _ in range(6)]
    for t in threads:
        t.start()
    # One scrape is scanning (held until released), the five others wait for its result.
    wait_for(lambda: running.take.calls == 1 and running.coalescer.waiting == 5,
             "five scrapes waiting on the first one's scan")
    running.take.release.set()
    for t in threads:
        t.join(WAIT)
    assert len(results) == 6 and {status for status, _ in results} == {200}
    assert {objects_count(body) for _, body in results} == {1}  # all from scan number 1
    assert running.take.calls == 1 and running.take.most_active == 1
    # The next scrape is a fresh scan, not a cached answer.
    status, body = get(running.url)
    assert status == 200 and objects_count(body) == 2 and running.take.calls == 2


def test_index_page_404_and_no_other_methods(running: Running) -> None:
    running.take.release.set()
    base = running.url.removesuffix("/metrics")
    status, body = get(base + "/")
    assert status == 200 and 'href="/metrics"' in body and body.count("\n") == 1
    assert get(base + "/metrics/x")[0] == 404
    assert get(base + "/rm?kind=sysv_shm&id=1")[0] == 404
    assert get(running.url, method="POST")[0] == 405
    assert get(running.url, method="DELETE")[0] == 405
    assert running.take.calls == 0  # none of that scanned anything


def test_failed_scan_is_a_500_and_the_next_scrape_works(
        running: Running, capsys: pytest.CaptureFixture[str]) -> None:
    running.take.release.set()
    running.take.fail = True
    status, body = get(running.url)
    assert status == 500 and "Traceback" not in body
    err = capsys.readouterr().err
    assert "ipctop: scrape failed: RuntimeError: the scan broke" in err
    assert "Traceback" not in err
    running.take.fail = False
    status, body = get(running.url)
    assert status == 200 and objects_count(body) == 2


def test_coalescer_passes_one_scan_error_to_every_waiter() -> None:
    take = SlowTake(fail=True)
    co = Coalescer(take)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            co()
        except RuntimeError as err:
            errors.append(err)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    wait_for(lambda: co.waiting == 2, "two callers waiting")
    take.release.set()
    for t in threads:
        t.join(WAIT)
    assert len(errors) == 3 and len({id(e) for e in errors}) == 1 and take.calls == 1


def test_default_listen_address_is_localhost_9863() -> None:
    args = cli.build_parser(["serve"]).parse_args(["serve"])
    assert args.listen == "127.0.0.1:9863" and args.top == 20


# ------------------------------------------------------------------ through a real process


def start_serve(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "ipctop", "serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stderr], [], [], WAIT)
    if not ready:
        proc.kill()
        proc.wait()
        raise AssertionError("ipctop serve said nothing")
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if "serving metrics on " not in line:
        proc.kill()
        proc.wait()
        raise AssertionError(f"unexpected first line: {line!r}")
    return proc, line.split("serving metrics on ")[1].split()[0]


@contextlib.contextmanager
def serving(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc, url = start_serve(*args)
    try:
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(WAIT)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_then_stops_cleanly_on_signal(sig: signal.Signals) -> None:
    with serving("--listen", "127.0.0.1:0", "--kind", "sysv-shm,sysv-msg") as (proc, url):
        assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
        status, body = get(url)
        assert status == 200
        names = {f.name for f in text_string_to_metric_families(body)}
        assert {"ipctop_objects", "ipctop_scrape_duration_seconds",
                "process_resident_memory_bytes"} <= names
        proc.send_signal(sig)
        assert proc.wait(WAIT) == 0
        assert proc.stderr is not None
        rest = proc.stderr.read()
        assert "Traceback" not in rest and rest.strip() == "ipctop: stopped"


def test_serve_on_a_busy_port_says_one_line_and_exits_2() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "ipctop", "serve", "--listen",
                               f"127.0.0.1:{port}"], capture_output=True, text=True,
                              timeout=WAIT * 3)
    assert done.returncode == 2
    assert done.stderr == f"ipctop: cannot listen on 127.0.0.1:{port}: Address already in use\n"


@pytest.mark.parametrize(("listen", "words"), [
    ("bogus", "wants ADDR:PORT"), ("127.0.0.1:x", "not a port number"),
    ("::1:9863", "IPv6 address in brackets"), ("127.0.0.1:70000", "not a port number"),
])
def test_serve_bad_listen_address(listen: str, words: str) -> None:
    done = subprocess.run([sys.executable, "-m", "ipctop", "serve", "--listen", listen],
                          capture_output=True, text=True, timeout=WAIT * 3)
    assert done.returncode == 2 and words in done.stderr and done.stderr.count("\n") == 1
