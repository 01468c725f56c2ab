"""Linux's inotify through ctypes (no dependency), and whether a folder is on a network file system.

inotify reports changes made through this kernel only: a Windows share mounted with CIFS, a WSL
drive or an NFS export never reports what the other machine writes, so such folders are polled.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import sys
from dataclasses import dataclass

IN_MODIFY = 0x2
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000

WATCHED = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (struct inotify_event)

# statfs f_type of file systems whose changes from elsewhere inotify cannot see
NETWORK_FS = {
    0xFF534D42: "cifs",
    0xFE534D42: "smb2",
    0x517B: "smb",
    0x6969: "nfs",
    0x65735546: "fuse",
    0x01021997: "9p (WSL drive)",
    0x564C: "ncp",
    0x73757245: "coda",
    0x5346414F: "afs",
}


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    return lib if hasattr(lib, "inotify_init1") else None


_LIBC = _libc()


def available() -> bool:
    return _LIBC is not None


def fs_kind(path: str) -> str | None:
    """The network file system ``path`` is on ("cifs", ...), or None for a local one (or unknown)."""
    if _LIBC is None:
        return None
    buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on 64-bit Linux; f_type first
    if _LIBC.statfs(os.fsencode(path), buf) != 0:
        return None
    f_type = ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF
    return NETWORK_FS.get(f_type)


@dataclass(frozen=True, slots=True)
class Event:
    mask: int
    name: str


class Inotify:
    """One inotify instance watching one folder; ``fd`` is non-blocking, for ``loop.add_reader``."""

    def __init__(self, folder: str) -> None:
        if _LIBC is None:
            raise OSError("inotify is not available on this system")
        fd = _LIBC.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self.fd = fd
        self.wd = -1
        try:
            self.add(folder)
        except OSError:
            os.close(fd)
            raise

    def add(self, folder: str) -> None:
        assert _LIBC is not None
        wd = _LIBC.inotify_add_watch(self.fd, os.fsencode(folder), WATCHED)
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_add_watch {folder}: {os.strerror(err)}")
        self.wd = wd

    def read(self) -> list[Event]:
        """The events waiting now (none when there are none)."""
        try:
            data = os.read(self.fd, 64 * 1024)
        except BlockingIOError:
            return []
        events = []
        at = 0
        while at + _HEADER.size <= len(data):
            _wd, mask, _cookie, length = _HEADER.unpack_from(data, at)
            at += _HEADER.size
            raw = data[at : at + length].split(b"\0", 1)[0]
            at += length
            events.append(Event(mask, os.fsdecode(raw)))
        return events

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
