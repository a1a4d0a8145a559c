"""`ipctop serve`: answer Prometheus scrapes over HTTP, read-only.

- ``/metrics``: a fresh snapshot per scrape, as :mod:`ipctop.metrics` words it, written by
  prometheus_client (its registry and WSGI app: content negotiation, OpenMetrics, gzip).
  Scrapes that arrive while a scan runs wait for that scan and share its result
  (:class:`Coalescer`), so however many scrapers there are, at most one scan runs at a time.
- ``/``: a one-line page pointing at /metrics; any other path is 404. Nothing here changes
  anything: ipctop never offers an action over HTTP.

The scans are incremental (a :class:`~ipctop.collect.procs.ScanCache` kept between scrapes, as
the TUI does), never split among forked helpers: forking from a process with threads is unsafe.
SIGTERM and SIGINT stop the server and return 0.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from ipctop.errors import EXIT_OK, IpcError
from ipctop.metrics import SnapshotCollector
from ipctop.model import Kind, Snapshot

INDEX = (b'<html><head><title>ipctop exporter</title></head><body>ipctop: Linux IPC objects '
         b'as Prometheus metrics at <a href="/metrics">/metrics</a></body></html>\n')

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass
class _Flight:
    """One call of ``take`` that callers wait on."""

    done: threading.Event = field(default_factory=threading.Event)
    result: tuple[Snapshot, float] | None = None
    error: BaseException | None = None


class Coalescer:
    """``take()`` for many threads, at most one call at a time: a caller that arrives while a
    call runs waits for it and gets its result (or its exception); the next caller after it
    finished starts a new one. Returns (snapshot, seconds the call took)."""

    def __init__(self, take: Callable[[], Snapshot],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._take = take
        self._clock = clock
        self._lock = threading.Lock()
        self._flight: _Flight | None = None
        self.calls = 0
        """How many times ``take`` was called."""
        self.waiting = 0
        """Callers now waiting for another caller's call to finish."""

    def __call__(self) -> tuple[Snapshot, float]:
        with self._lock:
            flight = self._flight
            leader = flight is None
            if flight is None:
                flight = self._flight = _Flight()
                self.calls += 1
            else:
                self.waiting += 1
        if leader:
            start = self._clock()
            try:
                flight.result = (self._take(), self._clock() - start)
            except BaseException as err:
                flight.error = err
            finally:
                with self._lock:
                    self._flight = None
                flight.done.set()
        else:
            flight.done.wait()
            with self._lock:
                self.waiting -= 1
        if flight.error is not None:
            raise flight.error
        assert flight.result is not None
        return flight.result


def make_app(registry: CollectorRegistry) -> WsgiApp:
    """The exporter's WSGI app: /metrics from ``registry``, / a one-line page, else 404."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == "/metrics":
            try:
                return metrics(environ, start_response)  # type: ignore[no-any-return]
            except Exception as err:  # one line in the log, a 500 to the scraper
                print(f"ipctop: scrape failed: {type(err).__name__}: {err}", file=sys.stderr)
                start_response("500 Internal Server Error",
                               [("Content-Type", "text/plain; charset=utf-8")])
                return [b"ipctop: the scan failed; see the exporter's log\n"]
        if path == "/":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [INDEX]
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found; metrics are at /metrics\n"]

    return app


class _QuietHandler(WSGIRequestHandler):
    """No line per request on stderr (a scrape every few seconds would flood the journal)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def start_server(host: str, port: int, take: Callable[[], Snapshot], *,
                 kinds: Collection[Kind] | None, top: int) -> tuple[Any, Coalescer]:
    """A threaded HTTP server on (host, port) serving :func:`make_app`, already listening (not
    yet serving: call ``serve_forever``). Raises IpcError when it cannot listen there."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as err:
        raise IpcError(f"cannot listen on {host}:{port}: {err}") from None
    family, _, _, _, sockaddr = infos[0]

    class Server(ThreadingWSGIServer):
        address_family = family

    coalescer = Coalescer(take)
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(coalescer, kinds=kinds, top=top))
    from prometheus_client import ProcessCollector  # the exporter's own CPU and memory

    ProcessCollector(registry=registry)
    try:
        server = make_server(str(sockaddr[0]), port, make_app(registry), server_class=Server,
                             handler_class=_QuietHandler)
    except OSError as err:
        raise IpcError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    return server, coalescer


def url_of(server: Any) -> str:
    host, port = server.server_address[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/metrics"


def serve(host: str, port: int, *, kinds: Collection[Kind] | None, top: int,
          take: Callable[[], Snapshot] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; return 0. ``take`` defaults to an incremental scan."""
    import gc

    gc.enable()  # off for the one-shot commands (cli.entry); this one runs for days
    if take is None:
        from ipctop.collect.scan_cache import ScanCache
        from ipctop.snapshot import take as take_snapshot

        cache = ScanCache()

        def take() -> Snapshot:
            return take_snapshot(kinds=kinds, cache=cache)

    server, _ = start_server(host, port, take, kinds=kinds, top=top)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                              name="ipctop-serve", daemon=True)
    thread.start()
    print(f"ipctop: serving metrics on {url_of(server)} (read-only; SIGTERM or Ctrl-C stops)",
          file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    print("ipctop: stopped", file=sys.stderr, flush=True)
    return EXIT_OK
