"""The columns the user chose per view (the column chooser, htop's F2): order and hidden ones.

Kept for the session in memory and, when the app is given a path (``ipctop`` with no command
does: ``$XDG_CONFIG_HOME/ipctop/columns.json``, else ``~/.config/ipctop/columns.json``), saved
there. ipctop runs as root, so the file is treated with the care of any path: the directory is
used only if it is ours and not writable by others, the file is read through ``O_NOFOLLOW`` and
checked to be a small regular file of ours, and it is written to a fresh temporary file in the
same directory and renamed over the old one (atomic: a crash leaves the old or the new file,
never half of one). A file that is missing, foreign, too big or not what we wrote is ignored:
the defaults are used, nothing is said on the terminal. No Textual here.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ipctop.columns import Column

MAX_BYTES = 64 * 1024
"""A bigger file is not ours (a few views of a few dozen column names)."""


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """Where the choices are saved: $XDG_CONFIG_HOME/ipctop/columns.json (absolute only, as
    the XDG spec says), else ~/.config/ipctop/columns.json."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME", "")
    if not base or not os.path.isabs(base):
        base = os.path.join(env.get("HOME") or os.path.expanduser("~"), ".config")
    return Path(base) / "ipctop" / "columns.json"


def _safe_dir(path: Path) -> bool:
    """Is ``path`` a real directory (not a link) of ours that nobody else can write to?"""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()
            and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


class ColumnPrefs:
    """View id -> (column order, hidden columns). Order and hidden hold column keys; keys of
    columns a view no longer has are ignored, new columns keep their place at the end."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        """Where to save (None: for this session only)."""
        self.order: dict[str, tuple[str, ...]] = {}
        self.hidden: dict[str, frozenset[str]] = {}

    @classmethod
    def saved(cls) -> ColumnPrefs:
        """The choices saved in the user's config file (see config_path), saved there again."""
        prefs = cls(config_path())
        prefs.load()
        return prefs

    # -- use -------------------------------------------------------------------------------

    def ordered(self, view_id: str, columns: Sequence[Column]) -> list[Column]:
        """``columns`` in the order the user chose for ``view_id`` (unchosen ones after)."""
        order = self.order.get(view_id)
        if not order:
            return list(columns)
        rank = {key: i for i, key in enumerate(order)}
        return sorted(columns, key=lambda c: rank.get(c.key, len(rank)))

    def set(self, view_id: str, order: Sequence[str], hidden: frozenset[str],
            default: Sequence[str]) -> None:
        """Record a choice (the default order is not stored, so a later version's new columns
        take their own place)."""
        if tuple(order) == tuple(default):
            self.order.pop(view_id, None)
        else:
            self.order[view_id] = tuple(order)
        if hidden:
            self.hidden[view_id] = frozenset(hidden)
        else:
            self.hidden.pop(view_id, None)

    # -- file ------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        views = sorted(set(self.order) | set(self.hidden))
        return {"schema": "ipctop.columns/1", "views": {
            v: {"order": list(self.order.get(v, ())), "hidden": sorted(self.hidden.get(v, ()))}
            for v in views}}

    def load(self) -> bool:
        """Read the saved choices; False (and the defaults) when there is none or it is not
        a file we wrote."""
        if self.path is None or not _safe_dir(self.path.parent):
            return False
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or \
                    st.st_size > MAX_BYTES:
                return False
            data = json.loads(os.read(fd, MAX_BYTES + 1).decode())
        except (OSError, ValueError):
            return False
        finally:
            os.close(fd)
        if not isinstance(data, dict) or data.get("schema") != "ipctop.columns/1":
            return False
        views = data.get("views")
        if not isinstance(views, dict):
            return False
        for view_id, choice in views.items():
            if not isinstance(view_id, str) or not isinstance(choice, dict):
                continue
            order = _strings(choice.get("order"))
            hidden = _strings(choice.get("hidden"))
            if order:
                self.order[view_id] = tuple(order)
            if hidden:
                self.hidden[view_id] = frozenset(hidden)
        return True

    def save(self) -> str | None:
        """Write the choices atomically; None, or why it could not (said to the user)."""
        if self.path is None:
            return None
        folder = self.path.parent
        try:
            if not folder.exists() and not folder.is_symlink():
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not _safe_dir(folder):
                return f"{folder} is not a directory of ours that only we can write: not saved"
            fd, tmp = tempfile.mkstemp(prefix=".columns.", suffix=".tmp", dir=folder)
            try:
                with os.fdopen(fd, "w") as out:
                    json.dump(self.to_json(), out, indent=1)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as err:
            return f"could not save the columns to {self.path}: {err.strerror or err}"
        return None
