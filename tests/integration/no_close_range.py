"""Run a command as if on a kernel older than Linux 5.9: a seccomp filter makes
close_range fail with ENOSYS, in the command and everything it starts.

    /usr/bin/python3 no_close_range.py COMMAND [ARG...]
"""

import ctypes
import errno
import os
import platform
import struct
import sys

# seccomp_data.arch for the architectures whose close_range number we know
ARCHES = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
NR_CLOSE_RANGE = 436          # the same in both system call tables
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
LD_ABS_W, JEQ_K, RET_K = 0x20, 0x15, 0x06
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000


def supported():
    return platform.machine() in ARCHES


def install():
    program = [
        (LD_ABS_W, 0, 0, 4),                       # A = arch
        (JEQ_K, 0, 3, ARCHES[platform.machine()]), # another ABI: allow
        (LD_ABS_W, 0, 0, 0),                       # A = system call number
        (JEQ_K, 0, 1, NR_CLOSE_RANGE),
        (RET_K, 0, 0, RET_ERRNO | errno.ENOSYS),
        (RET_K, 0, 0, RET_ALLOW),
    ]
    code = b"".join(struct.pack("=HBBI", *insn) for insn in program)
    filt = ctypes.create_string_buffer(code, len(code))

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    prog = Prog(len(program), ctypes.addressof(filt))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                           ctypes.c_ulong]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0 or \
            libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        sys.exit(f"no_close_range: prctl: {os.strerror(ctypes.get_errno())}")


if __name__ == "__main__":
    if not supported():
        sys.exit(f"no_close_range: unknown architecture {platform.machine()}")
    install()
    os.execvp(sys.argv[1], sys.argv[1:])
