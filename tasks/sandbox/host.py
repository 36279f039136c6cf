"""Run untrusted Python programs (model-written HumanEval completions) in a separate, limited process.

``run_program(source)`` writes ``source`` to ``program.py`` in a fresh temporary directory, runs it with
``python -I`` (isolated mode: no user site, no ``PYTHON*`` variables, script directory not on
``sys.path``) and returns an :class:`ExecResult`: ``passed`` (exit status 0), ``failed`` (uncaught
exception, nonzero exit, killed by a signal), ``timeout`` (we killed it for time) or ``error`` (the
sandbox itself could not run it). Standard library only.

Layers, from hardest to softest, and what each one does *not* do:

1. **Separate process, process group, wall clock.** The program starts in a new session
   (``start_new_session=True``), so it and everything it spawns share one process group. On timeout the
   whole group gets ``SIGKILL``; after a normal exit the group is killed as well, so a child left
   sleeping in the background does not survive the run. Limit: a descendant that calls ``setsid()``
   leaves the group; only layer 3's PID namespace catches that one.
2. **Resource limits** (``setrlimit`` in the runner, before any untrusted code, soft = hard so the
   program cannot raise them again): ``RLIMIT_AS`` (memory: a 4 GB allocation fails with
   ``MemoryError`` in the child, never in the harness), ``RLIMIT_CPU`` (``SIGXCPU``, reported as
   ``timeout``), ``RLIMIT_FSIZE`` (no file, stdout included, grows past ``max_file_mb``),
   ``RLIMIT_CORE = 0`` and ``RLIMIT_NPROC``. Limits: ``RLIMIT_NPROC`` counts every process of the
   *user* and the kernel ignores it for root, so it is no fork-bomb protection when the harness runs as
   root (as it does on this project's machines). Against a fork bomb the guard (layer 4) stops the first
   fork; one that got past the guard would be bounded only in *time* (group / namespace kill at the
   timeout), not in process count, unless the run's cgroup (layer 3c) sets ``pids.max``. A program that catches
   ``SIGXCPU`` is killed one CPU second later and reported ``failed``.
3. **Namespaces, when the machine allows them** (probed once per process, cached, falling back one level
   at a time and saying so once on stderr; see :func:`isolation_prefix`). First choice: user + **mount** +
   network + PID namespaces with a private ``/proc``. In the mount namespace the program gets its own
   size-limited tmpfs as ``/tmp`` (its working directory is ``/tmp/work``), fresh tmpfs mounts hide
   ``/dev/shm`` and ``/run`` (host shared memory and unix sockets), and every other mount is remounted
   read-only, so even native code cannot create, change or delete a file of the host, and what it writes
   is bounded by ``Limits.disk_mb`` per tmpfs and vanishes with the namespace; host processes are not
   visible in its ``/proc``. Then ``unshare -rn --pid --fork --kill-child`` and ``unshare -rn``, where the
   points below marked *without the mount namespace* apply. A new user + network namespace has only a
   loopback device that is down, so
   not even native code (``ctypes``, C extensions) reaches any network, the harness's ``127.0.0.1``
   included. With the PID namespace the runner is the namespace's init; when the program exits or is
   killed, the kernel kills every process left in the namespace, ``setsid()`` escapers too, and the
   program cannot signal any process outside it. Limits *without the mount namespace*: ``-r`` maps the
   namespace's root to the *calling* user, so when the harness runs as root the program still has root's
   file access on the host, and ``/proc`` is the host's, so host processes are visible (not signalable).
   Limit of the namespaces alone: a unix socket outside ``/tmp``, ``/run`` and ``/dev/shm`` on a read-only
   mount could still be connected to (connecting needs no write); layer 3b closes that.
   Dropping to an unprivileged uid would make file access a hard boundary too, but it needs an
   interpreter that such a user can read (this project's lives under ``/root``, mode 0700), so it is not
   done; run the harness as an ordinary user for that protection.
3b. **A seccomp filter** (installed by the runner in the program's process, after the limits and before any
   of its code; inherited by every descendant and impossible to remove): creating any socket and setting up
   an io_uring fail with ``EPERM`` at the kernel, for native code too, and a syscall through another ABI than
   the native one (i386 ``int 0x80``, x32) kills the process. x86_64 and aarch64; elsewhere, or where the
   kernel refuses, it is said once on stderr and sockets rest on the network namespace and the guard.
3c. **A cgroup per run** (:mod:`tasks.sandbox.cgroup`, v1 or v2, where the harness may make one; said once
   otherwise): the program joins it before it starts, so everything it spawns is inside. ``memory`` bounds
   the whole run (``Limits.run_memory_mb``: RAM of every process plus the pages of its tmpfs mounts; the
   kernel kills a process of the run that goes over, and stderr says so) and ``pids`` bounds its process
   and thread count (``Limits.max_processes``) for root too. At the end every process left in the group is
   killed and the group removed. In the first isolation level the cgroup files are read-only to the program.
4. **Python-level guard** (installed by the runner before ``program.py`` is compiled, in the spirit of
   OpenAI human-eval's ``reliability_guard``, written anew here). Raise ``PermissionError``: process
   creation (``os.fork``/``forkpty``/``system``/``popen``/``exec*``/``spawn*``/``posix_spawn*``,
   ``subprocess.Popen``, ``_posixsubprocess.fork_exec``, ``multiprocessing`` start, ``pty``), signals
   (``os.kill``/``killpg``), ``setsid``/``setpgid``/``setuid``..., ``os.link``/``symlink``, sockets and
   name resolution, ``resource.setrlimit``, ``importlib.reload``; ``import ctypes`` raises
   ``ImportError``. Confined to the working directory (refused with ``PermissionError`` for any path that
   resolves outside it, allowed inside it so ``tempfile`` and scratch files still work): ``os.remove``/
   ``unlink``/``rmdir``/``removedirs``/``rename``/``renames``/``replace``/``chmod``/``chown``/
   ``truncate``, ``shutil.rmtree``/``move``, and ``open``/``os.open`` for writing. Both ``os`` and the
   ``posix`` module underneath it are patched. Limit: this is a best-effort guard against *accidents* in
   model-written code, not a security boundary: Python code set on getting around it can (e.g. by
   re-creating a built-in module, or through a C extension), and then only layers 1 to 3 hold.
5. **Temporary working directory** (``HOME`` and ``TMPDIR`` point into it, the environment is minimal:
   no proxies, no ``PYTHONPATH``), deleted after the run. Limit: it confines *relative* paths; absolute
   paths are handled by the guard (and, for an unprivileged harness user, by file permissions).

**Completion verdict.** Exit status 0 alone cannot tell a program that ran to its end from one that called
``os._exit(0)`` half way, so the runner reports completion itself: the harness hands it a fresh per-run
secret through an inherited pipe (read and closed before the program starts; never in ``program.py``, in
an argument, in the environment or in any file), and only when the program's module code returns without
an exception or ``SystemExit`` does the runner write ``completed <secret>`` to a second inherited pipe.
:attr:`ExecResult.completed` is True only when that exact line arrived, so printing, reading the program's
own source or code constants, or exec-ing any line of it cannot fake it, and how much the program prints
does not matter. The ``signal`` control file (written by the PID-namespace init) can only turn a failing
exit status into the signal that caused it, never into 0. Limit: the secret lives in the runner's memory
while the program runs, so Python code that walks frames or the garbage collector to the runner's closure
can still read it; that needs deliberate introspection of the sandbox's own code, and the layers above
still bound what such a program can do.

Output goes to temporary files, not pipes, so a program printing without end cannot deadlock the
harness; ``RLIMIT_FSIZE`` bounds the files and only the first ``max_output_chars`` characters are read
back. The hash seed is random as in plain Python
(``-I`` ignores ``PYTHONHASHSEED``).
"""
from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from tasks.sandbox.cgroup import RunGroup

__all__ = ["ExecResult", "Limits", "run_program", "run_programs", "check_program", "isolation_prefix"]

PASSED, FAILED, TIMEOUT, ERROR = "passed", "failed", "timeout", "error"
RUNNER_NAME = "__sandbox_main__.py"
PROGRAM_NAME = "program.py"
_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class ExecResult:
    """What happened to one program. ``returncode`` is negative for death by a signal, None if it never ran."""

    status: str          # "passed" | "failed" | "timeout" | "error" (error = the sandbox could not run it)
    returncode: int | None
    stdout: str          # at most Limits.max_output_chars characters
    stderr: str          # at most Limits.max_output_chars characters
    seconds: float       # wall clock, start of the subprocess to its end
    truncated: bool = False  # stdout or stderr was longer than max_output_chars
    completed: bool = False  # the runner saw program.py's code run to its end without an exception or exit


@dataclass(frozen=True)
class Limits:
    """Limits and layers for one run; the defaults suit a HumanEval problem (fast, small, no I/O)."""

    timeout_s: float = 10.0       # wall clock; the whole process group is killed after it
    cpu_s: int = 10               # RLIMIT_CPU, seconds (SIGXCPU -> status "timeout")
    memory_mb: int = 1024         # RLIMIT_AS, address space per process
    max_processes: int = 64       # RLIMIT_NPROC (per user; the kernel ignores it for root, see module doc)
    max_file_mb: int = 16         # RLIMIT_FSIZE, also bounds stdout/stderr
    max_output_chars: int = 20000  # characters of stdout and of stderr kept in the ExecResult
    disk_mb: int = 64             # size of each private tmpfs (/tmp with the working directory, /dev/shm, /run)
    run_memory_mb: int = 1024     # cgroup ceiling of the whole run: RAM of every process + its tmpfs pages
    guard: bool = True            # install the Python-level guard (turn off only to test the other layers)
    isolate: bool = True          # namespaces, the run's cgroup and the seccomp filter where this machine allows

    def __post_init__(self):
        for name in ("timeout_s", "cpu_s", "memory_mb", "max_processes", "max_file_mb", "max_output_chars",
                     "disk_mb", "run_memory_mb"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)!r}")


DEFAULT_LIMITS = Limits()


# The runner (the child side) lives in tasks/sandbox/child.py, a real module linted and tested like the rest;
# it is copied into each run as source text, so the sandboxed interpreter imports nothing from this project.
_RUNNER_SOURCE = (Path(__file__).with_name("child.py")).read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# Harness side
# --------------------------------------------------------------------------------------------------
# Run inside fresh user + mount + network + PID namespaces (as the namespace's root) before the runner:
# a private size-limited tmpfs becomes /tmp (holding work/ with program.py and the runner), fresh tmpfs
# mounts hide /dev/shm and /run (host unix sockets, shared memory), and every other mount is remounted
# read-only, so the program can write nowhere but its own tmpfs. Fails (exit 97) when any step fails.
_MOUNT_SCRIPT = r"""
set -eu
src="$1"; mb="$2"; shift 2
stage="$src/stage"
mkdir -p "$stage"
mount -t tmpfs -o "size=${mb}m,mode=0755" tokenorder-sandbox "$stage" || exit 97
mkdir -m 0700 "$stage/work"
cp "$src/program.py" "$stage/work/program.py"
cp "$src/__sandbox_main__.py" "$stage/__sandbox_main__.py"
mount --move "$stage" /tmp || exit 97
for d in /dev/shm /run; do
  if [ -d "$d" ] && [ ! -L "$d" ]; then mount -t tmpfs -o "size=${mb}m,mode=1777" tokenorder-sandbox "$d" || exit 97; fi
done
awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r m; do
  case "$m" in /tmp|/tmp/*|/dev/shm|/run|/proc|/proc/*) continue ;; esac
  mount -o remount,bind,ro "$m" 2>/dev/null || case "$m" in /|/dev|/root|/home|/work|/work/*|/var|/opt|/usr) exit 97 ;; esac
done
mount -o remount,bind,ro / || exit 97
cd /tmp/work
exec "$@"
"""


@lru_cache(maxsize=None)
def isolation_prefix() -> tuple[str, ...]:
    """Return the command prefix that runs a program in fresh namespaces, or () if this machine has none.

    Tries, once each with ``true`` (the answer is cached for the life of the process): user + mount +
    network + PID namespaces with a private ``/proc`` and the read-only root of :data:`_MOUNT_SCRIPT`; then
    ``unshare -rn --pid --fork --kill-child`` (user + network + PID); then ``unshare -rn``. The first prefix
    ends with ``sh -c SCRIPT sandbox-mounts`` and expects (source directory, tmpfs MiB) before the command.
    Falling back below the first level is said once on stderr.
    """
    unshare = shutil.which("unshare", path=_PATH)
    sh = shutil.which("sh", path=_PATH)
    if unshare is None:
        _say_once("no `unshare` on this machine: programs run without namespaces (guard and limits only)")
        return ()
    levels = []
    if sh is not None:
        levels.append((unshare, "-rmn", "--pid", "--fork", "--kill-child", "--mount-proc",
                       sh, "-c", _MOUNT_SCRIPT, "sandbox-mounts"))
    levels += [(unshare, "-rn", "--pid", "--fork", "--kill-child"), (unshare, "-rn")]
    for i, cmd in enumerate(levels):
        try:
            with tempfile.TemporaryDirectory(prefix="sandbox-probe-") as probe:
                for name in (PROGRAM_NAME, RUNNER_NAME):
                    open(os.path.join(probe, name), "w").close()
                extra = [probe, "1"] if cmd[-1] == "sandbox-mounts" else []
                ok = subprocess.run([*cmd, *extra, "true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, timeout=20, env={"PATH": _PATH}).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        if ok:
            if i and levels[0][-1] == "sandbox-mounts":
                _say_once("this machine refuses a mount namespace with a read-only root: programs can write "
                          "outside their working directory wherever the user may (guard only)")
            return cmd
    _say_once("this machine refuses user namespaces: programs run without them (guard and limits only)")
    return ()


@lru_cache(maxsize=None)
def cgroups_usable() -> bool:
    """Return whether this machine lets the harness put a run in a cgroup of its own (tried once with ``true``:
    a group is made, joined and removed; the answer is cached). Saying no is said once on stderr."""
    sh = shutil.which("sh", path=_PATH)
    group = RunGroup.create(64 * 2**20, 8) if sh else None
    ok = False
    if group is not None:
        try:
            ok = subprocess.run([*group.join_prefix(), "true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, timeout=20, env={"PATH": _PATH}).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        finally:
            group.close()
    if not ok:
        _say_once("this machine does not let the harness make a cgroup: memory is bounded per process and per "
                  "tmpfs, not for a run as a whole, and the process count only by RLIMIT_NPROC")
    return ok


@lru_cache(maxsize=None)
def _say_once(message: str) -> None:
    """Print a note about the sandbox's layers on stderr, once per process and message."""
    print(f"[sandbox] {message}", file=sys.stderr)


def mounts_isolated() -> bool:
    """Return True when programs run with the private tmpfs and read-only root (the first isolation level)."""
    prefix = isolation_prefix()
    return bool(prefix) and prefix[-1] == "sandbox-mounts"


def _wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait until process `pid` (our child) has exited, WITHOUT reaping it; return False on timeout.

    Not reaping keeps the pid and its process group id reserved, so the group kill that follows cannot
    hit an unrelated process that reused the number.
    """
    deadline = time.monotonic() + timeout
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            pidfd = None
    if pidfd is not None:
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            return bool(poller.poll(max(0.0, timeout) * 1000))
        finally:
            os.close(pidfd)
    while True:  # fallback: poll every 10 ms
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def _kill_group(pgid: int) -> None:
    """SIGKILL every process in process group `pgid`; a group that is already gone is fine."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_bounded(path: str, max_chars: int) -> tuple[str, bool]:
    """Return (first `max_chars` characters of the UTF-8 file at `path`, whether anything was cut)."""
    max_bytes = 4 * max_chars + 4  # enough bytes for max_chars characters of any UTF-8 text
    with open(path, "rb") as f:
        data = f.read(max_bytes)
        more = bool(f.read(1))
    text = data.decode("utf-8", errors="replace")
    return text[:max_chars], more or len(text) > max_chars


def _remove_tree(path: str) -> None:
    """Delete `path` recursively, making directories writable where the program removed permissions."""
    def retry(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)
    else:
        shutil.rmtree(path, onerror=retry)
    shutil.rmtree(path, ignore_errors=True)


def _with_note(stderr: str, note: str, limits: Limits) -> str:
    """Return the program's stderr with a sandbox note appended, kept to its last ``max_output_chars``."""
    return (stderr + f"\n[sandbox] {note}")[-limits.max_output_chars:]


def _error(message: str, start: float) -> ExecResult:
    return ExecResult(ERROR, None, "", f"[sandbox] {message}", time.monotonic() - start)


def run_program(source: str, limits: Limits = DEFAULT_LIMITS, python: str | None = None) -> ExecResult:
    """Run `source` as a Python program in a fresh, isolated subprocess; return its ExecResult.

    `python` is the interpreter (default ``sys.executable``). Never raises for anything the program
    does; a problem of the sandbox itself comes back as status "error".
    """
    start = time.monotonic()
    try:
        base = tempfile.mkdtemp(prefix="sandbox-")
    except OSError as e:
        return _error(f"cannot create a temporary directory: {e}", start)
    try:
        return _run_in(base, source, limits, python or sys.executable, start)
    finally:
        _remove_tree(base)


def _run_in(base: str, source: str, limits: Limits, python: str, start: float) -> ExecResult:
    work = os.path.join(base, "work")
    try:
        os.mkdir(work, 0o700)
        for path, text in ((os.path.join(work, PROGRAM_NAME), source), (os.path.join(base, PROGRAM_NAME), source),
                           (os.path.join(base, RUNNER_NAME), _RUNNER_SOURCE)):
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    except (OSError, UnicodeEncodeError) as e:
        return _error(f"cannot write the program: {e}", start)
    config = {
        "memory_bytes": int(limits.memory_mb) * 2**20,
        "file_bytes": int(limits.max_file_mb) * 2**20,
        "cpu_s": int(limits.cpu_s),
        "max_processes": int(limits.max_processes),
        "guard": bool(limits.guard),
        "seccomp": bool(limits.isolate),
    }
    token = secrets.token_hex(16)
    try:
        token_r, token_w = os.pipe()
        verdict_r, verdict_w = os.pipe()
    except OSError as e:
        return _error(f"cannot create pipes: {e}", start)
    os.write(token_w, token.encode())
    os.close(token_w)
    config.update(token_fd=token_r, verdict_fd=verdict_w)
    prefix = isolation_prefix() if limits.isolate else ()
    if prefix and prefix[-1] == "sandbox-mounts":   # the program's own tmpfs becomes /tmp; work is /tmp/work
        cwd, argv = "/", [*prefix, base, str(int(limits.disk_mb)), python, "-I", f"/tmp/{RUNNER_NAME}",
                          json.dumps(config)]
        home = "/tmp/work"
    else:
        cwd, argv = work, [*prefix, python, "-I", os.path.join(base, RUNNER_NAME), json.dumps(config)]
        home = work
    env = {"PATH": _PATH, "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    out_path, err_path = os.path.join(base, "stdout"), os.path.join(base, "stderr")
    group = None
    if limits.isolate and cgroups_usable():
        group = RunGroup.create(int(limits.run_memory_mb) * 2**20, int(limits.max_processes))
        if group is None:
            os.close(verdict_r)
            for fd in (token_r, verdict_w):
                os.close(fd)
            return _error("cannot make the run's cgroup", start)
        argv = [*group.join_prefix(), *argv]
    try:
        return _start_and_wait(argv, cwd, env, out_path, err_path, token_r, verdict_w, verdict_r, token, limits,
                               group)
    finally:
        if group is not None:
            group.close()


def _start_and_wait(argv, cwd, env, out_path, err_path, token_r, verdict_w, verdict_r, token, limits,
                    group) -> ExecResult:
    """Start the runner, wait for it within the limits, and return what happened (the run's second half)."""
    start = time.monotonic()
    try:
        try:
            with open(out_path, "wb") as out, open(err_path, "wb") as err:
                proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                        start_new_session=True, close_fds=True, pass_fds=(token_r, verdict_w))
        finally:
            os.close(token_r)
            os.close(verdict_w)
    except OSError as e:
        os.close(verdict_r)
        return _error(f"cannot start {argv[0]}: {e}", start)
    try:
        timed_out = not _wait_for_exit(proc.pid, limits.timeout_s)
    finally:
        _kill_group(proc.pid)  # timeout or not: no process of the program outlives the run
        proc.wait()
    seconds = time.monotonic() - start
    lines = _drain(verdict_r).split(b"\n")
    completed = f"completed {token}".encode() in lines
    started = b"armed" in lines           # the runner armed every layer and is about to run the program

    if limits.isolate and started and b"seccomp" not in lines:
        _say_once("this machine refuses a seccomp filter: sockets are stopped by the network namespace and the "
                  "guard only")
    stdout, cut_out = _read_bounded(out_path, limits.max_output_chars)
    stderr, cut_err = _read_bounded(err_path, limits.max_output_chars)
    if group is not None and group.oom_killed():
        stderr = _with_note(stderr, f"killed: the run went over its memory ceiling of {limits.run_memory_mb} MB",
                            limits)
    returncode = proc.returncode
    # The namespace init's note of a death by signal refines a failing status, never makes one pass.
    for line in lines:
        if line.startswith(b"signal ") and line[7:].isdigit():
            sig = int(line[7:])
            if 0 < sig < 65 and returncode == 128 + sig:
                returncode = -sig

    if timed_out:
        status = TIMEOUT
    elif not started:
        status = ERROR
        stderr = _with_note(stderr, f"the runner never started the program (exit status {returncode})", limits)
    elif returncode == 0:
        status = PASSED
    elif returncode == -signal.SIGXCPU:
        status = TIMEOUT  # RLIMIT_CPU: out of CPU time is a timeout, not a wrong answer
    else:
        status = FAILED
    return ExecResult(status, returncode, stdout, stderr, seconds, cut_out or cut_err,
                      completed=completed and started and not timed_out)


def _drain(fd: int, limit: int = 1 << 16) -> bytes:
    """Return up to `limit` bytes waiting in the read end `fd` of a pipe (never blocks), and close it."""
    os.set_blocking(fd, False)
    data = b""
    try:
        while len(data) < limit:
            try:
                chunk = os.read(fd, limit - len(data))
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    return data


def run_programs(sources: Iterable[str], limits: Limits = DEFAULT_LIMITS, workers: int = 1,
                 python: str | None = None) -> list[ExecResult]:
    """Run each source with :func:`run_program`, `workers` at a time; return the ExecResults in input order."""
    sources = list(sources)
    if workers <= 1 or len(sources) <= 1:
        return [run_program(s, limits, python) for s in sources]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda s: run_program(s, limits, python), sources))


def check_program(source: str, limits: Limits = DEFAULT_LIMITS, python: str | None = None) -> bool:
    """Return True if `source` runs to its end and exits with status 0 within `limits` (HumanEval's "passed")."""
    r = run_program(source, limits, python)
    return r.status == PASSED and r.completed
