#!/usr/bin/env python3
"""A network link with a delay, in user space: for kernels without `tc netem` (sch_netem).

    delay-link.py HOST_NETNS HOST_TAP HUB_NETNS HUB_TAP DELAY_MS

Attaches to two persistent TAP devices (`ip tuntap add … mode tap`), one in the host's network namespace and
one in the hub's, and copies every Ethernet frame from one to the other. Frames the host sends reach the hub
DELAY_MS later, like `tc qdisc add dev eth0 root netem delay DELAY_MS` on the host's interface; frames
towards the host pass at once. A line `MS` on stdin sets a new delay; end of stdin (the test process gone)
ends the link. A frame the other side cannot take (its link set down: a cut cable) is dropped.
Prints `attached` once both devices are attached (until then no frame passes).
"""
import collections
import ctypes
import fcntl
import os
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000

libc = ctypes.CDLL(None, use_errno=True)


def attach(netns: str, tap: str) -> int:
    """Opens /dev/net/tun inside `netns` (a tun file belongs to the namespace it was opened in) and attaches it to `tap`."""
    ns = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if libc.setns(ns, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns {netns}: {os.strerror(error)}")
    finally:
        os.close(ns)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", tap.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def main() -> None:
    host_ns, host_tap, hub_ns, hub_tap, delay_ms = sys.argv[1:6]
    delay = float(delay_ms) / 1000
    host = attach(host_ns, host_tap)
    hub = attach(hub_ns, hub_tap)
    control = sys.stdin.fileno()
    print("attached", flush=True)
    queued: collections.deque = collections.deque()  # (due, frame) from the host, in order

    def put(fd: int, frame: bytes) -> None:
        try:
            os.write(fd, frame)
        except OSError:
            pass  # the device is down or gone: the frame is lost, as on a cut cable

    pending = b""
    while True:
        timeout = max(0.0, queued[0][0] - time.monotonic()) if queued else None
        readable, _, _ = select.select([host, hub, control], [], [], timeout)
        now = time.monotonic()
        for fd in readable:
            if fd == control:
                data = os.read(control, 4096)
                if not data:
                    return
                pending += data
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if line.strip():
                        delay = float(line) / 1000
                continue
            try:
                frame = os.read(fd, 65536)
            except BlockingIOError:
                continue
            except OSError:
                return  # the namespace and its device were deleted
            if fd == host:
                queued.append((now + delay, frame))
            else:
                put(host, frame)
        now = time.monotonic()
        while queued and queued[0][0] <= now:
            put(hub, queued.popleft()[1])


if __name__ == "__main__":
    main()
