"""Write man/ipctop.1 from the CLI's own parser, so the manual lists every command and option.

argparse-manpage turns the parser (every subcommand, option and help text) into roff; the
sections a parser cannot know (the TUI's keys, exit status, environment, files, examples) are
added here. Run it after changing a command or an option, and commit the result:

    .venv/bin/python scripts/make-manpage.py

tests/test_packaging.py checks that the page names every command and option of the parser.
The page is installed with the package (share/man/man1, which pipx links into ~/.local/share/man).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from argparse_manpage.manpage import Manpage

from ipctop import __version__
from ipctop.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "man" / "ipctop.1"

SECTIONS = {
    "terminal ui": r"""
With no command, \fBipctop\fR opens a full-screen view of every IPC object, refreshed every
\fB\-\-interval\fR seconds; /dev/shm and /dev/mqueue changes arrive at once through inotify.
Keys: \fB?\fR or \fBF1\fR help, \fB/\fR filter (\fBEsc\fR clears), arrows and \fBEnter\fR for
details, \fB1\fR..\fB9\fR and \fBTab\fR switch view, \fBo\fR/\fBO\fR sort, \fBp\fR or space
pause, \fB+\fR/\fB\-\fR refresh slower/faster, \fBl\fR events log, \fBn s r a e\fR new, send,
receive, attach, edit a semaphore, \fBd\fR or \fBDel\fR remove (after a Yes/No box),
\fBL\fR reclaim leaks, \fBctrl+p\fR command palette, \fBq\fR quit.
The TUI needs a terminal; scripts use \fBipctop snapshot \-\-json\fR.
""",
    "exit status": r"""
.TP
.B 0
success
.TP
.B 1
the answer is "nothing": nothing to receive before the timeout, object not found, or
(\fBleaks\fR) leaks were found; with \fBleaks \-\-clean \-\-yes\fR, some remain (0 once
every leak found was removed)
.TP
.B 2
bad usage, the action failed (permission denied, queue full, ...), or the output could not be
written
""",
    "shell completion": r"""
\fBipctop \-\-print\-completion bash\fR and \fBipctop \-\-print\-completion zsh\fR print a
completion script for every command, option and kind; after an action command it offers only
the kinds that command takes. For example:
.PP
.nf
ipctop \-\-print\-completion bash > /etc/bash_completion.d/ipctop
ipctop \-\-print\-completion zsh > /usr/local/share/zsh/site\-functions/_ipctop
.fi
""",
    "environment": r"""
.TP
.B IPCTOP_SCAN_WORKERS
how many processes scan /proc for \fBsnapshot\fR and \fBleaks\fR (default: one per CPU, at
most 4; \fB1\fR scans in one process)
.TP
.B IPCTOP_DEBUG
print a traceback instead of one line on an internal error
.TP
.B NO_COLOR
the TUI draws without colour
""",
    "files": r"""
.TP
.I /proc/sysvipc/shm, /proc/sysvipc/msg, /proc/sysvipc/sem
SysV objects of the current IPC namespace
.TP
.I /dev/shm, /dev/mqueue
POSIX shared memory, named semaphores and message queues (/dev/mqueue must be mounted:
\fBmount \-t mqueue none /dev/mqueue\fR)
.TP
.I /proc/PID/fd, /proc/PID/fdinfo, /proc/PID/maps
which process uses which object; other users' processes are readable by root only
""",
    "examples": r"""
.nf
ipctop snapshot \-\-kind sysv\-shm
ipctop snapshot \-\-kind sysv\-shm \-o ID,KEY,SIZE,CTIME \-\-raw \-\-noheadings \-\-bytes
ipctop rm sysv\-shm \-\-key 0x1234 \-\-yes
ipctop snapshot \-\-json | jq '.objects[] | select(.leak)'
ipctop leaks \-\-min\-age 10m
ipctop leaks \-\-clean \-\-yes \-\-filter psm_
ipctop create posix\-mq /jobs \-\-maxmsg 10 \-\-msgsize 256
ipctop send posix\-mq /jobs hello \-\-priority 3
ipctop recv sysv\-msg 32811 \-\-peek
ipctop read posix\-shm /frames \-\-length 64
ipctop rm sysv\-shm 32830
ipctop metrics \-\-top 50 > /var/lib/node_exporter/ipctop.prom.tmp
ipctop serve \-\-listen 127.0.0.1:9863
.fi
""",
    "see also": r"""
\fBipcs\fR(1), \fBlsipc\fR(1), \fBlsfd\fR(1), \fBipcrm\fR(1), \fBlsof\fR(8),
\fBsysvipc\fR(7), \fBshm_overview\fR(7), \fBmq_overview\fR(7), \fBsem_overview\fR(7),
\fBpipe\fR(7), \fBunix\fR(7), \fBprometheus\fR(1)
""",
}


def commit_date() -> str:
    """The date of the last commit: the page does not change with the day it is made."""
    done = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%cs"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or "1970-01-01"


def render() -> str:
    page = Manpage(build_parser(), format="pretty")
    page.description = "a top for Linux inter-process communication"
    page.source = f"ipctop {__version__}"
    page.manual = "User Commands"
    page.date = commit_date()
    for heading, body in SECTIONS.items():
        page.add_section(heading, "=", body.strip("\n"))
    # The top-level positional is the command: call its list what it is.
    return str(page).replace(".SH\nPOSITIONAL ARGUMENTS\n", ".SH COMMANDS\n", 1)


def main() -> int:
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(render())
    print(f"wrote {OUT.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
