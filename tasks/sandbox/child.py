"""The sandbox's child side: the first Python code the sandboxed interpreter runs.

:mod:`tasks.sandbox.host` copies this file (as source text) into the run's directory and starts it with
``python -I``; it reads the run's configuration from ``argv[1]``, takes the per-run secret from its
inherited pipe, becomes the PID namespace's init when there is one, sets the resource limits, installs the
seccomp filter (no sockets, no io_uring) and the Python-level guard, and runs ``program.py``, reporting completion on the verdict pipe. It must import
nothing from this project (the sandboxed interpreter cannot see it) and only the standard library; a test
checks both. The threat model and the layers are described in :mod:`tasks.sandbox.host`.
"""
import json
import os
import sys


def become_init(verdict_fd):
    """As PID 1 of a fresh PID namespace: fork the program's process, reap everything, exit with its status.

    PID 1 ignores signals it has no handler for (SIGXCPU included), so the program must not be PID 1.
    When this process exits, the kernel kills whatever is left in the namespace.
    """
    child = os.fork()
    if child == 0:
        return
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(70)
        if pid == child:
            break
    if os.WIFSIGNALED(status):
        os.write(verdict_fd, b"signal %d\n" % os.WTERMSIG(status))
        os._exit(128 + os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status))


def set_limits(cfg):
    """Soft = hard for every limit, clamped to the current hard limit, so the program cannot raise them."""
    import resource

    def limit(name, value):
        res = getattr(resource, name, None)
        if res is None:
            return
        _, hard = resource.getrlimit(res)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        try:
            resource.setrlimit(res, (value, value))
        except (ValueError, OSError):
            pass

    limit("RLIMIT_AS", cfg["memory_bytes"])
    limit("RLIMIT_FSIZE", cfg["file_bytes"])
    limit("RLIMIT_CORE", 0)
    limit("RLIMIT_NPROC", cfg["max_processes"])
    # SIGXCPU at cpu_s, SIGKILL one second later if the program catches SIGXCPU.
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = cfg["cpu_s"] if hard == resource.RLIM_INFINITY else min(cfg["cpu_s"], hard)
    new_hard = soft + 1 if hard == resource.RLIM_INFINITY else min(soft + 1, hard)
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, new_hard))
    except (ValueError, OSError):
        pass


def install_seccomp():
    """Deny, at the kernel level and for good, what no test program needs and the other layers do not stop:
    creating any socket (a unix socket on a read-only mount would still connect to a host service) and
    io_uring (which can open sockets without the socket call). Another syscall ABI than the native one
    (i386 ``int 0x80``, x32) kills the process, so the filter cannot be side-stepped. Returns True when the
    filter is in place, False where this machine or architecture has none (the caller says so)."""
    import ctypes
    import platform
    import struct

    native = {"x86_64": (0xC000003E, (41, 425), True), "aarch64": (0xC00000B7, (198, 425), False)}
    if platform.machine() not in native:
        return False
    audit_arch, denied_calls, has_x32 = native[platform.machine()]
    ld_abs, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06          # BPF_LD|W|ABS, BPF_JMP|JEQ|K, JGE|K, BPF_RET|K
    allow, kill, eperm = 0x7FFF0000, 0x80000000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, KILL_PROCESS, ERRNO(EPERM)
    prog = [(ld_abs, 0, 0, 4), (jeq, 1, 0, audit_arch), (ret, 0, 0, kill), (ld_abs, 0, 0, 0)]
    if has_x32:
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, kill)]
    for nr in denied_calls:
        prog += [(jeq, 0, 1, nr), (ret, 0, 0, eperm)]
    prog.append((ret, 0, 0, allow))
    raw = b"".join(struct.pack("HBBI", *ins) for ins in prog)

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    fprog = Program(len(prog), raw)
    if libc.prctl(38, 1, 0, 0, 0) != 0:                      # PR_SET_NO_NEW_PRIVS
        return False
    return libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0   # PR_SET_SECCOMP, SECCOMP_MODE_FILTER


def install_guard(root):
    """Disable process creation, signals, sockets; confine file changes to `root` (best effort)."""
    import builtins
    import importlib
    import io
    import multiprocessing.process
    import posix
    import pty
    import resource
    import shutil
    import socket
    import subprocess
    import _io
    import _posixsubprocess
    import _socket

    def denied(what):
        def deny(*args, **kwargs):
            raise PermissionError(f"sandbox: {what} is disabled")
        deny.__name__ = deny.__qualname__ = what.rsplit(".", 1)[-1]
        return deny

    def deny_all(module, names, label=None):
        for name in names:
            if hasattr(module, name):
                setattr(module, name, denied(f"{label or module.__name__}.{name}"))

    # Processes, signals, identity: denied outright (os and the posix module underneath it).
    os_denied = [
        "fork", "forkpty", "vfork", "system", "popen", "posix_spawn", "posix_spawnp",
        "kill", "killpg", "setsid", "setpgid", "setpgrp",
        "setuid", "seteuid", "setreuid", "setresuid", "setgid", "setegid", "setregid", "setresgid",
        "setgroups", "chroot", "link", "symlink", "fchmod", "fchown", "chflags", "lchflags",
    ]
    for module in (os, posix):
        deny_all(module, os_denied + [n for n in dir(module) if n.startswith(("exec", "spawn", "_exec"))],
                 label="os")

    # File changes: allowed strictly inside the working directory, refused anywhere else.
    root = os.path.realpath(root)

    def resolve(path, dir_fd=None, follow=True):
        """The absolute paths an operation on `path` touches: the entry itself and, if followed, its target."""
        if isinstance(path, int):
            path = os.readlink(f"/proc/self/fd/{path}")
        path = os.fsdecode(path)
        if dir_fd is not None and not os.path.isabs(path):
            path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
        head, tail = os.path.split(path)
        if tail in ("", ".", ".."):
            entry = os.path.realpath(path)
        else:
            entry = os.path.join(os.path.realpath(head or "."), tail)
        return (entry, os.path.realpath(path)) if follow else (entry,)

    def require_inside(what, path, dir_fd=None, follow=True):
        for p in resolve(path, dir_fd, follow):
            if p != os.devnull and not p.startswith(root + os.sep):
                raise PermissionError(f"sandbox: {what} outside the working directory is disabled: {p}")

    def confine(name, npaths, follow):
        real = getattr(posix, name, None) or getattr(os, name, None)
        if real is None:
            return

        def confined(*args, **kwargs):
            paths = list(args[:npaths]) + [kwargs[k] for k in ("path", "src", "dst") if k in kwargs]
            fds = [kwargs.get("src_dir_fd", kwargs.get("dir_fd")), kwargs.get("dst_dir_fd", kwargs.get("dir_fd"))]
            for i, path in enumerate(paths):
                require_inside(f"os.{name}", path, fds[min(i, 1)], follow and kwargs.get("follow_symlinks", True))
            return real(*args, **kwargs)

        confined.__name__ = confined.__qualname__ = name
        for module in (os, posix):
            if hasattr(module, name):
                setattr(module, name, confined)

    for name in ("remove", "unlink", "rmdir", "lchmod", "lchown", "mknod", "mkfifo"):
        confine(name, 1, follow=False)
    for name in ("rename", "replace"):
        confine(name, 2, follow=False)
    for name in ("chmod", "chown", "truncate"):
        confine(name, 1, follow=True)
    # os.removedirs, os.renames, shutil.chown and shutil.copy* go through the functions above.

    real_rmtree, real_move = shutil.rmtree, shutil.move

    def rmtree(path, *args, **kwargs):
        require_inside("shutil.rmtree", path)
        return real_rmtree(path, *args, **kwargs)

    def move(src, dst, *args, **kwargs):
        require_inside("shutil.move", src, follow=False)
        require_inside("shutil.move", dst)
        return real_move(src, dst, *args, **kwargs)

    shutil.rmtree, shutil.move = rmtree, move

    real_open = builtins.open

    def open(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None, closefd=True,
             opener=None):
        # With an opener (tempfile uses one), the opener's own os.open call is the one checked.
        if opener is None and not isinstance(file, int) and any(c in mode for c in "wax+"):
            require_inside("writing", file)
        return real_open(file, mode, buffering, encoding, errors, newline, closefd, opener)

    builtins.open = io.open = _io.open = open

    class FileIO(_io.FileIO):
        def __init__(self, file, mode="r", closefd=True, opener=None):
            if opener is None and not isinstance(file, int) and any(c in mode for c in "wax+"):
                require_inside("writing", file)
            super().__init__(file, mode, closefd, opener)

    io.FileIO = _io.FileIO = FileIO

    real_os_open = posix.open
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def os_open(path, flags, mode=0o777, *, dir_fd=None):
        if flags & write_flags:
            require_inside("writing", path, dir_fd)
        return real_os_open(path, flags, mode, dir_fd=dir_fd)

    os.open = posix.open = os_open

    # Other ways to start processes.
    class Popen(subprocess.Popen):
        def __init__(self, *args, **kwargs):
            raise PermissionError("sandbox: subprocess.Popen is disabled")

    subprocess.Popen = Popen
    deny_all(_posixsubprocess, ["fork_exec"])
    multiprocessing.process.BaseProcess.start = denied("multiprocessing.Process.start")
    deny_all(pty, ["fork", "spawn"])
    deny_all(resource, ["setrlimit", "prlimit"])
    deny_all(importlib, ["reload"])

    # Network. Subclassing still works (ssl, asyncio import fine); creating a socket does not.
    class DeniedSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            raise PermissionError("sandbox: socket.socket is disabled")

    socket.socket = socket.SocketType = _socket.socket = _socket.SocketType = DeniedSocket
    net_names = ["create_connection", "create_server", "socketpair", "fromfd", "dup", "getaddrinfo",
                 "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo", "getfqdn"]
    deny_all(socket, net_names)
    deny_all(_socket, net_names, label="socket")
    for name in ("ctypes", "_ctypes"):
        sys.modules[name] = None  # `import ctypes` raises ImportError


def take_token(fd):
    """Read the per-run secret from the inherited pipe `fd` and close it; return a function that writes
    "completed <secret>" to the verdict pipe. The secret is in no file, argument, environment variable or
    program text, so the program cannot copy it from its own source, constants or working directory."""
    data = b""
    while len(data) < 256:
        chunk = os.read(fd, 256)
        if not chunk:
            break
        data += chunk
    os.close(fd)
    line = b"completed " + data.strip() + b"\n"

    def report(verdict_fd):
        os.write(verdict_fd, line)

    return report


def run_program(path, report, verdict_fd):
    """Run the program as the __main__ module; print an uncaught exception's traceback without our frame.
    When its code returns (no exception, no exit), report completion on `verdict_fd`."""
    import traceback
    import types

    with open(path, encoding="utf-8") as f:
        source = f.read()
    module = types.ModuleType("__main__")
    module.__file__ = path
    module.__builtins__ = __builtins__
    sys.modules["__main__"] = module
    sys.argv = [path]
    try:
        code = compile(source, path, "exec")
        exec(code, module.__dict__)
    except SystemExit:
        raise
    except BaseException as e:
        tb = e.__traceback__.tb_next if e.__traceback__ is not None else None
        traceback.print_exception(type(e), e, tb)
        sys.stderr.flush()
        sys.exit(1)
    report(verdict_fd)


def main():
    cfg = json.loads(sys.argv[1])
    report = take_token(cfg["token_fd"])
    sys.dont_write_bytecode = True
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(encoding="utf-8", errors="backslashreplace")
    if os.getpid() == 1:
        become_init(cfg["verdict_fd"])
    set_limits(cfg)
    if cfg.get("seccomp") and install_seccomp():
        os.write(cfg["verdict_fd"], b"seccomp\n")
    for name in ("ctypes", "_ctypes"):   # as if never imported: the guard below refuses a fresh import
        sys.modules.pop(name, None)
    if cfg["guard"]:
        install_guard(os.getcwd())
    os.write(cfg["verdict_fd"], b"armed\n")
    run_program("program.py", report, cfg["verdict_fd"])


if __name__ == "__main__":
    main()
