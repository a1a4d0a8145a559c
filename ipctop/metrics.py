"""The exporter's series: one Snapshot as Prometheus metrics.

``ipctop metrics`` and ``ipctop serve`` both print what :func:`families` computes, from the same
Snapshot ``snapshot --json`` prints, so a count or a size here is the one the JSON and the TUI
show. prometheus_client writes the text format (and escapes label values); this module only
decides which series there are. No Textual, no I/O.

Every series is a gauge: each scrape reports the state now. Per-kind series are present for every
kind the snapshot was taken for (0 when there are none), so an alert on "> 0" never has to guess
whether a missing series means zero. Per-object series exist only for the ``top`` largest objects
(by size), which keeps their number bounded on a machine with thousands of pipes and sockets.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Collection, Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from ipctop import __version__
from ipctop.kinds import KIND_CLASSES
from ipctop.leaks import STATUSES, reclaimable_bytes
from ipctop.meters import meters
from ipctop.model import IpcObject, Kind, Snapshot
from ipctop.snapshot import natural_key

OBJECT_LABELS = ("kind", "id", "key", "name", "owner", "container", "namespace")
"""Labels of the per-object series, each read from the IpcObject field of that name (namespace:
see :func:`namespace_label`). A new field becomes a label by adding its name here."""

_KIND_ORDER = {kind: i for i, kind in enumerate(Kind)}


def _kinds_with(field: str) -> tuple[Kind, ...]:
    """Kinds whose objects have ``field`` (e.g. "messages"), in Kind order."""
    return tuple(kind for kind, cls in KIND_CLASSES.items()
                 if field in {f.name for f in dataclasses.fields(cls)})


QUEUE_KINDS = _kinds_with("messages")
"""Kinds that queue messages: SysV message queues, POSIX message queues."""
QUEUED_BYTES_KINDS = _kinds_with("bytes")
"""Kinds that report bytes waiting to be read: queues, pipes, FIFOs, sockets."""


def label_text(value: object) -> str:
    """A label value: text, valid UTF-8 (the format requires it).

    Names of IPC objects are whatever bytes their creator chose. A name that is not UTF-8 arrives
    as bytes or as a str holding surrogate escapes (os.listdir's way); its undecodable bytes are
    written as ``\\xNN`` so the series keeps a name a person can recognise, never an exception
    that would fail the whole scrape. None is the empty string (Prometheus: no label)."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        raw = value
    else:
        text = str(value)
        try:
            text.encode("utf-8")
            return text
        except UnicodeEncodeError:
            try:
                raw = text.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:  # a surrogate no decoder made: nothing to recover
                return text.encode("utf-8", "backslashreplace").decode("ascii")
    return raw.decode("utf-8", "backslashreplace")


def largest(objects: Iterable[IpcObject], top: int) -> list[IpcObject]:
    """The ``top`` largest objects whose size is known, biggest first (ties: kind, then id)."""
    sized = [o for o in objects if o.size is not None]
    sized.sort(key=lambda o: (-(o.size or 0), _KIND_ORDER[o.kind], natural_key(o.id)))
    return sized[:max(0, top)]


def namespace_label(obj: IpcObject) -> str:
    """"ipc:[4026532451]" (as /proc/PID/ns/ipc reads) for an object of an IPC namespace other
    than ipctop's own, "mnt:[...]" for a /dev/shm file found only through another mount
    namespace; "" for ipctop's own namespaces (no label)."""
    if obj.where is None:
        return ""
    return f"ipc:[{obj.ipc_ns}]" if obj.ipc_ns is not None else f"mnt:[{obj.mnt_ns}]"


def object_labels(obj: IpcObject) -> list[str]:
    """The values of :data:`OBJECT_LABELS` for ``obj``."""
    special: dict[str, Callable[[IpcObject], str]] = {
        "kind": lambda o: o.kind.value, "namespace": namespace_label}
    return [special[name](obj) if name in special else label_text(getattr(obj, name, None))
            for name in OBJECT_LABELS]


def _gauge(name: str, doc: str, labels: Collection[str] = (), unit: str = "") -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels), unit=unit)


def empty_families() -> list[Metric]:
    """Every family :func:`families` yields, without samples (a collector's ``describe``)."""
    return list(_families(None, kinds=(), top=0, duration=0.0))


def families(snap: Snapshot, *, kinds: Collection[Kind] | None = None, top: int,
             duration: float = 0.0) -> list[Metric]:
    """The metric families for ``snap``, taken for ``kinds`` (None: every kind), with
    per-object series for the ``top`` largest objects; ``duration`` is how long taking the
    snapshot took, in seconds."""
    wanted = tuple(Kind) if kinds is None else tuple(k for k in Kind if k in kinds)
    return list(_families(snap, kinds=wanted, top=top, duration=duration))


def _families(snap: Snapshot | None, *, kinds: tuple[Kind, ...], top: int,
              duration: float) -> Iterator[Metric]:
    objects = snap.objects if snap is not None else ()
    by_kind: dict[Kind, list[IpcObject]] = {k: [] for k in kinds}
    for obj in objects:
        if obj.kind in by_kind:
            by_kind[obj.kind].append(obj)

    info = _gauge("ipctop_build_info", "ipctop's version; always 1", ["version"])
    if snap is not None:
        info.add_metric([__version__], 1)
    yield info

    count = _gauge("ipctop_objects", "IPC objects of each kind", ["kind"])
    size = _gauge("ipctop_object_bytes", "Bytes the IPC objects of each kind occupy or can hold "
                  "(shared memory and mapped file sizes, message queue capacities: the SIZE "
                  "column)", ["kind"], unit="bytes")
    for kind in kinds:
        objs = by_kind[kind]
        count.add_metric([kind.value], len(objs))
        size.add_metric([kind.value], sum(o.size or 0 for o in objs))
    yield count
    yield size

    in_containers = _gauge("ipctop_container_objects", "IPC objects of each kind in each "
                           "container ipctop recognised (cgroup or process tree); objects of "
                           "the host and of unnamed namespaces are not counted here",
                           ["container", "kind"])
    per_container: dict[tuple[str, str], int] = {}
    for kind in kinds:
        for obj in by_kind[kind]:
            if obj.container:
                where = (label_text(obj.container), kind.value)
                per_container[where] = per_container.get(where, 0) + 1
    for (container, kind_value), n in sorted(per_container.items()):
        in_containers.add_metric([container, kind_value], n)
    yield in_containers

    yield _field_sums(by_kind, QUEUE_KINDS, "messages", "ipctop_queue_messages",
                      "Messages waiting in the message queues of each kind")
    yield _field_sums(by_kind, QUEUED_BYTES_KINDS, "bytes", "ipctop_queue_bytes",
                      "Bytes waiting to be read in the queues, pipes, FIFOs and sockets of each "
                      "kind (where the kernel tells)", unit="bytes")

    leaks = _gauge("ipctop_leaks", "IPC objects the leak hunter flags, by kind and verdict "
                   "(leak, pending_removal, unknown; see `ipctop leaks`)", ["kind", "status"])
    for kind in kinds:
        for status in STATUSES:
            leaks.add_metric([kind.value, status], sum(
                1 for o in by_kind[kind] if o.leak is not None and o.leak.status == status))
    yield leaks
    reclaim = _gauge("ipctop_leak_reclaimable_bytes", "Bytes that removing the objects judged "
                     "leaks would free", unit="bytes")
    if snap is not None:
        reclaim.add_metric([], reclaimable_bytes(o for k in kinds for o in by_kind[k]))
    yield reclaim

    yield from _limit_families(snap, kinds)

    unreadable = _gauge("ipctop_unreadable_processes", "Processes whose fds or maps ipctop "
                        "could not read (their use of IPC is unknown)")
    took = _gauge("ipctop_scrape_duration_seconds", "Seconds taking the snapshot behind these "
                  "metrics took", unit="seconds")
    if snap is not None:
        unreadable.add_metric([], snap.unreadable.count)
        took.add_metric([], duration)
    yield unreadable
    yield took

    obj_size = _gauge("ipctop_object_size_bytes", "Size of each of the largest IPC objects "
                      "(only the --top N largest have this series)", OBJECT_LABELS, unit="bytes")
    obj_procs = _gauge("ipctop_object_processes", "Processes using each of the largest IPC "
                       "objects (the same objects as ipctop_object_size_bytes)", OBJECT_LABELS)
    seen: set[tuple[str, ...]] = set()
    for obj in largest((o for k in kinds for o in by_kind[k]), top):
        labels = object_labels(obj)
        if tuple(labels) in seen:  # one series per label set, or the scrape is refused
            continue
        seen.add(tuple(labels))
        obj_size.add_metric(labels, obj.size or 0)
        obj_procs.add_metric(labels, len(obj.pids))
    yield obj_size
    yield obj_procs


def _field_sums(by_kind: dict[Kind, list[IpcObject]], having: Collection[Kind], field: str,
                name: str, doc: str, unit: str = "") -> Metric:
    """A per-kind gauge: the sum of ``field`` (None as 0) over the objects of each kind asked
    for that has the field."""
    fam = _gauge(name, doc, ["kind"], unit=unit)
    for kind, objs in by_kind.items():
        if kind in having:
            fam.add_metric([kind.value], sum(getattr(o, field, 0) or 0 for o in objs))
    return fam


def _limit_families(snap: Snapshot | None, kinds: tuple[Kind, ...]) -> Iterator[Metric]:
    used = _gauge("ipctop_limit_used", "Use of each kernel IPC limit the TUI meters; the limit "
                  "label names the unit (…_bytes: bytes, otherwise a count)", ["limit"])
    most = _gauge("ipctop_limit_max", "Each kernel IPC limit the TUI meters (+Inf: unlimited); "
                  "the limit label names the unit", ["limit"])
    if snap is not None:
        for meter in meters(snap):
            if meter.kind is not None and meter.kind not in kinds:
                continue  # the snapshot did not look at that kind: its use is unknown
            if meter.kind is None and snap.limits.devshm_size is None:
                continue  # /dev/shm could not be measured (or was not asked about)
            used.add_metric([meter.key], meter.used)
            if meter.limit is not None:
                most.add_metric([meter.key], math.inf if meter.unlimited else meter.limit)
    yield used
    yield most


class SnapshotCollector:
    """A prometheus_client collector: each ``collect()`` gets a (snapshot, seconds it took)
    from ``source`` and yields :func:`families` of it."""

    def __init__(self, source: Callable[[], tuple[Snapshot, float]], *,
                 kinds: Collection[Kind] | None = None, top: int) -> None:
        self.source = source
        self.kinds = kinds
        self.top = top

    def describe(self) -> list[Metric]:
        return empty_families()

    def collect(self) -> list[Metric]:
        snap, took = self.source()
        return families(snap, kinds=self.kinds, top=self.top, duration=took)


def render(snap: Snapshot, *, kinds: Collection[Kind] | None = None, top: int,
           duration: float = 0.0) -> bytes:
    """``snap`` in the Prometheus text exposition format (version 0.0.4)."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: (snap, duration), kinds=kinds, top=top))
    return generate_latest(registry)
