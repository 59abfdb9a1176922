"""Kill a server's process group when the collect process that started it dies.

collect starts one reaper next to every server it launches and keeps the write
end of a pipe whose read end is the reaper's stdin. Nothing is ever written:
when collect exits, however it exits (SIGKILL included), the kernel closes the
write end, the reaper reads end-of-file and kills the group. A normal stop
kills the group first and then closes the pipe, so the reaper finds nothing
left and exits.

Usage: python -m judge.reaper PGID
"""

from __future__ import annotations

import os
import signal
import sys
import time

# How long the group gets to exit after SIGTERM before it gets SIGKILL.
TERM_GRACE_S = 3.0


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # The group exists but belongs to another user: not ours to kill.
        return False
    return True


def kill_group(pgid: int, grace_s: float = TERM_GRACE_S) -> None:
    """Send SIGTERM to the group, then SIGKILL if it outlives `grace_s` seconds."""
    if not group_alive(pgid):
        return
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not group_alive(pgid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m judge.reaper PGID", file=sys.stderr)
        return 2
    pgid = int(argv[0])
    # A Ctrl-C in the terminal must not stop the reaper before it has done
    # its work, so it ignores SIGINT and waits for end-of-file only.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while sys.stdin.buffer.read(4096):
        pass
    kill_group(pgid)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
