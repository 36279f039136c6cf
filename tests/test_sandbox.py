"""The sandbox (tasks/sandbox/host.py) is attacked here the way a bad HumanEval completion could attack it.

Each layer is tested on its own where possible: the Python-level guard with namespaces off
(``isolate=False``), and the hard layers (process group kill, rlimits, namespaces) with the guard off
(``guard=False``), so a test cannot pass because another layer happened to catch the attack.
"""
from __future__ import annotations

import json
import os
import resource
import select
import signal
import socket
import subprocess
import time
import uuid

import pytest

from tasks.sandbox.host import (ExecResult, Limits, check_program, isolation_prefix, mounts_isolated, run_program,
                             run_programs)

FAST = Limits(timeout_s=5.0)
NO_GUARD = Limits(timeout_s=5.0, guard=False)
GUARD_ONLY = Limits(timeout_s=5.0, isolate=False)
HAS_NETNS = "-rn" in isolation_prefix()
HAS_PIDNS = "--pid" in isolation_prefix()
PRIVATE_PROC = mounts_isolated()   # programs see their own /proc: pids they report are not the host's

# Host pid of the calling process, also from inside a PID namespace (first NSpid entry, /proc is the host's).
HOST_PID = "int(open('/proc/self/status').read().split('NSpid:')[1].split()[0])"


def _alive(pid: int) -> bool:
    """True if `pid` is a live process (a zombie waiting to be reaped counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _processes_with(token: str) -> list[int]:
    """Live processes whose command line contains `token`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if token.encode() in cmdline and _alive(int(entry)):
            found.append(int(entry))
    return found


def _gone(pids=(), token=None, within=3.0) -> bool:
    """Wait up to `within` seconds for every pid (and every process naming `token`) to disappear."""
    deadline = time.monotonic() + within
    while True:
        left = [p for p in pids if _alive(p)] + (_processes_with(token) if token else [])
        if not left:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------------
# Ordinary programs
# ---------------------------------------------------------------------------------------------------
def test_normal_program_passes_and_stdlib_imports_work():
    r = run_program("import math, itertools, collections, re, heapq, functools, typing, string\n"
                    "assert 1 + 1 == 2\n"
                    "assert math.gcd(12, 18) == 6 and heapq.nsmallest(1, [3, 1, 2]) == [1]\n"
                    "print(sorted(collections.Counter('abca').items()))\n", FAST)
    assert isinstance(r, ExecResult)
    assert (r.status, r.returncode) == ("passed", 0), r
    assert r.stdout == "[('a', 2), ('b', 1), ('c', 1)]\n"
    assert r.stderr == "" and not r.truncated and 0 < r.seconds < 5


COMMON_MODULES = ["array", "bisect", "collections", "copy", "dataclasses", "datetime", "decimal", "enum",
                  "fractions", "functools", "hashlib", "heapq", "itertools", "json", "math", "operator",
                  "random", "re", "statistics", "string", "sys", "tempfile", "textwrap", "typing",
                  "unittest", "doctest", "asyncio", "urllib.request", "pathlib", "logging", "threading"]


def test_the_guard_does_not_break_common_imports():
    source = "".join(f"import {m}\n" for m in COMMON_MODULES) + (
        "random.seed(1); assert 0 <= random.random() < 1\n"
        "import threading\nt = threading.Thread(target=print, args=('thread',)); t.start(); t.join()\n"
        "@dataclasses.dataclass\nclass P:\n    x: int\nassert P(1).x == 1\n")
    r = run_program(source, FAST)
    assert r.status == "passed", r.stderr
    assert r.stdout == "thread\n"


def test_assert_false_fails_with_the_assertion_in_stderr():
    r = run_program("x = 1\nassert x == 2, 'boom'\n", FAST)
    assert (r.status, r.returncode) == ("failed", 1)
    assert "AssertionError: boom" in r.stderr
    assert 'File "program.py", line 2' in r.stderr and "assert x == 2" in r.stderr
    assert "__sandbox_main__" not in r.stderr  # the runner's own frame is not shown


@pytest.mark.parametrize("source, status, returncode", [
    ("import sys\nsys.exit(0)\n", "passed", 0),
    ("import sys\nsys.exit(3)\n", "failed", 3),
    ("def f(:\n    pass\n", "failed", 1),              # SyntaxError
    ("input()\n", "failed", 1),                         # stdin is /dev/null: EOFError
    ("import os, signal\nos.abort()\n", "failed", -signal.SIGABRT),
])
def test_exit_status(source, status, returncode):
    r = run_program(source, FAST)
    assert (r.status, r.returncode) == (status, returncode), r


def test_humaneval_shaped_program_and_unicode_output():
    prompt = 'def add(a: int, b: int) -> int:\n    """Add two numbers."""\n'
    completion = "    return a + b\n"
    test = "def check(candidate):\n    assert candidate(2, 3) == 5\n    print('héllo ✓')\n"
    r = run_program(prompt + completion + "\n" + test + "\ncheck(add)\n", FAST)
    assert r.status == "passed" and r.stdout == "héllo ✓\n"
    assert check_program(prompt + "    return a - b\n\n" + test + "\ncheck(add)\n", FAST) is False


def test_fresh_temporary_cwd_minimal_env_and_cleanup(monkeypatch):
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("PYTHONPATH", "/nonexistent/injected")
    source = ("import json, os, sys\n"
              "print(json.dumps({'cwd': os.getcwd(), 'home': os.environ.get('HOME'), 'env': dict(os.environ),"
              " 'isolated': sys.flags.isolated, 'path': sys.path, 'files': os.listdir('.')}))\n")
    first, second = run_program(source, FAST), run_program(source, FAST)
    assert first.status == second.status == "passed", (first, second)
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    if PRIVATE_PROC:
        assert a["cwd"] == b["cwd"] == "/tmp/work"              # a fresh private tmpfs per run, same path
    else:
        assert a["cwd"] != b["cwd"]                              # a fresh directory per run
    assert a["home"] == a["cwd"] and a["env"]["TMPDIR"] == a["cwd"]
    assert not any(k.lower().endswith("_proxy") for k in a["env"]), a["env"]
    assert "PYTHONPATH" not in a["env"] and "/nonexistent/injected" not in a["path"]
    assert a["isolated"] == 1
    assert a["files"] == ["program.py"]
    if not PRIVATE_PROC:                  # (a private tmpfs vanishes with its namespace)
        assert not os.path.exists(a["cwd"]) and not os.path.exists(os.path.dirname(a["cwd"]))  # deleted


def test_missing_interpreter_is_an_error_not_a_failure():
    r = run_program("pass", FAST, python="/nonexistent/bin/python3")
    assert r.status == "error" and r.returncode != 0 and "[sandbox]" in r.stderr


def test_output_flood_is_truncated_not_hung():
    limits = Limits(timeout_s=10.0, max_output_chars=1000)
    r = run_program("import sys\nsys.stdout.write('x' * 10_000_000)\nsys.stderr.write('e' * 3_000_000)\n", limits)
    assert r.status == "passed", r.stderr
    assert r.stdout == "x" * 1000 and r.stderr == "e" * 1000 and r.truncated
    assert r.seconds < 8


def test_run_programs_keeps_order_with_a_thread_pool():
    sources = ["print(0)", "raise SystemExit(2)", "print(2)", "while True: pass", "print(4)"]
    results = run_programs(sources, Limits(timeout_s=1.5), workers=3)
    assert [r.status for r in results] == ["passed", "failed", "passed", "timeout", "passed"]
    assert [r.stdout for r in results] == ["0\n", "", "2\n", "", "4\n"]


def test_limits_are_validated():
    with pytest.raises(ValueError):
        Limits(timeout_s=0)
    with pytest.raises(ValueError):
        Limits(memory_mb=-1)


# ---------------------------------------------------------------------------------------------------
# Wall clock and the process group
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["while True:\n    pass\n", "import time\ntime.sleep(1000)\n"])
def test_wall_clock_timeout(source):
    r = run_program(source, Limits(timeout_s=1.0))
    assert r.status == "timeout" and r.returncode == -signal.SIGKILL
    assert 1.0 <= r.seconds < 3.0, r.seconds


_SPAWN_POPEN = """
import os, subprocess, sys, time
subprocess.Popen([sys.executable, "-c",
                  "import time; open('child.pid', 'w').write(str({host_pid})); time.sleep(300)", "{token}"])
"""
_SPAWN_FORK = """
import os, sys, time
if os.fork() == 0:
    os.execv(sys.executable, [sys.executable, "-c",
             "import time; open('child.pid', 'w').write(str({host_pid})); time.sleep(300)", "{token}"])
"""
_WAIT_AND_REPORT = """
while not (os.path.exists('child.pid') and open('child.pid').read()):
    time.sleep(0.01)
print(open('child.pid').read(), flush=True)
"""


# isolate=False: the process-group kill alone; isolate=True: with the PID namespace (where available).
@pytest.mark.parametrize("isolate", [False, True], ids=["group-kill", "namespaces"])
@pytest.mark.parametrize("spawn", [_SPAWN_POPEN, _SPAWN_FORK], ids=["subprocess", "fork"])
def test_children_do_not_outlive_a_normal_exit(spawn, isolate):
    token = uuid.uuid4().hex
    r = run_program(spawn.format(host_pid=HOST_PID, token=token) + _WAIT_AND_REPORT,
                    Limits(timeout_s=5.0, guard=False, isolate=isolate))
    assert r.status == "passed", r.stderr
    child = int(r.stdout)
    host_pids = [] if isolate and PRIVATE_PROC else [child]      # the token finds it on the host either way
    assert _gone(host_pids, token), f"child {child} survived the run"
    if isolate and HAS_PIDNS and not PRIVATE_PROC:
        # The namespace's end reaps its processes at once. Without it the killed child is re-parented to
        # the machine's init, which may leave it a zombie for a few seconds ("dead" for _gone above).
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)


@pytest.mark.parametrize("isolate", [False, True], ids=["group-kill", "namespaces"])
def test_children_are_killed_with_the_group_on_timeout(isolate):
    token = uuid.uuid4().hex
    source = _SPAWN_POPEN.format(host_pid=HOST_PID, token=token) + _WAIT_AND_REPORT + "while True:\n    pass\n"
    r = run_program(source, Limits(timeout_s=1.5, guard=False, isolate=isolate))
    assert r.status == "timeout" and r.seconds < 3.5
    child = int(r.stdout)
    assert _gone([] if isolate and PRIVATE_PROC else [child], token), f"child {child} survived the timeout"


@pytest.mark.skipif(not HAS_PIDNS, reason="unshare --pid is not available on this machine")
def test_setsid_escaper_is_killed_by_the_pid_namespace():
    """A grandchild in its own session leaves the process group; only the PID namespace catches it."""
    token = uuid.uuid4().hex
    source = f"""
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c",
                 "import time; open('child.pid', 'w').write(str({HOST_PID})); time.sleep(300)", "{token}"])
    os._exit(0)
""" + _WAIT_AND_REPORT
    r = run_program(source, NO_GUARD)
    assert r.status == "passed", r.stderr
    child = int(r.stdout)
    assert _gone([] if PRIVATE_PROC else [child], token), f"setsid() escaper {child} survived"


# ---------------------------------------------------------------------------------------------------
# Resource limits (guard off: the kernel enforces these)
# ---------------------------------------------------------------------------------------------------
def test_rlimits_are_set_inside_the_sandbox():
    limits = Limits(timeout_s=5.0, cpu_s=7, memory_mb=300, max_processes=50, max_file_mb=3, guard=False)
    source = ("import json, resource as r\n"
              "print(json.dumps({n: r.getrlimit(getattr(r, n)) for n in "
              "['RLIMIT_AS', 'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_CORE', 'RLIMIT_NPROC']}))\n")
    r = run_program(source, limits)
    assert r.status == "passed", r.stderr
    got = json.loads(r.stdout)
    assert got["RLIMIT_AS"] == [300 * 2**20] * 2
    assert got["RLIMIT_CPU"] == [7, 8]
    assert got["RLIMIT_FSIZE"] == [3 * 2**20] * 2
    assert got["RLIMIT_CORE"] == [0, 0]
    assert got["RLIMIT_NPROC"] == [50, 50]


@pytest.mark.parametrize("source, limits", [
    ("b = b'x' * (4 * 2**30)\n", NO_GUARD),
    ("chunks = []\nwhile True:\n    chunks.append(bytearray(2**20))\n",
     Limits(timeout_s=5.0, memory_mb=256, guard=False)),
], ids=["4GB-bytes", "growing-list"])
def test_memory_hog_gets_memory_error_and_the_harness_is_unaffected(source, limits):
    before = resource.getrlimit(resource.RLIMIT_AS)
    r = run_program(source, limits)
    assert r.status == "failed" and "MemoryError" in r.stderr, r
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert len(bytearray(300 * 2**20)) == 300 * 2**20  # the harness can still allocate


def test_cpu_limit_reports_timeout():
    r = run_program("while True:\n    pass\n", Limits(timeout_s=10.0, cpu_s=1, guard=False))
    assert r.status == "timeout" and r.returncode == -signal.SIGXCPU, r
    assert r.seconds < 5.0


def test_file_size_limit():
    r = run_program("open('big.bin', 'wb').write(b'x' * 2 * 2**20)\n",
                    Limits(timeout_s=5.0, max_file_mb=1, guard=False))
    assert r.status == "failed" and "File too large" in r.stderr, r


# ---------------------------------------------------------------------------------------------------
# Python-level guard: processes (each attempt is a single, harmless spawn; guard tested alone)
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("attempt", [
    "import os\nos.fork()",
    "import posix\nposix.fork()",
    "import os\nos.forkpty()",
    "import os\nos.system('true')",
    "import os\nos.popen('true').read()",
    "import os\nos.execv('/bin/true', ['true'])",
    "import os\nos.spawnv(os.P_WAIT, '/bin/true', ['true'])",
    "import os\nos.posix_spawn('/bin/true', ['true'], {})",
    "import subprocess\nsubprocess.run(['true'])",
    "import subprocess\nsubprocess.check_output('true', shell=True)",
    "import _posixsubprocess\n_posixsubprocess.fork_exec()",
    "import multiprocessing\nmultiprocessing.Process(target=print).start()",
    "import concurrent.futures as cf\ncf.ProcessPoolExecutor(1).submit(print).result()",
    "import pty\npty.spawn('true')",
    "import os\nos.kill(os.getpid(), 0)",
    "import os\nos.setsid()",
    "import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))",
])
def test_guard_blocks_process_creation(attempt):
    r = run_program(attempt + "\nprint('NOT BLOCKED')\n", GUARD_ONLY)
    assert r.status == "failed" and "PermissionError: sandbox:" in r.stderr, r
    assert "NOT BLOCKED" not in r.stdout


def test_guard_blocks_ctypes():
    r = run_program("import ctypes\n", GUARD_ONLY)
    assert r.status == "failed" and "import of ctypes halted" in r.stderr, r


@pytest.mark.parametrize("bomb, status", [
    ("import os\nwhile True:\n    os.fork()\n", "failed"),
    ("import os\nwhile True:\n    try:\n        os.fork()\n    except Exception:\n        pass\n", "timeout"),
])
def test_fork_bomb_is_contained(bomb, status):
    # Safety first: the guard must stop a single fork before a bomb is ever started.
    single = run_program("import os\nos.fork()\nprint('FORKED')\n", Limits(timeout_s=2.0))
    if single.status != "failed" or "FORKED" in single.stdout:
        pytest.fail(f"the guard did not block a single fork; refusing to run the fork bomb: {single}")
    r = run_program("import os\nprint(os.path.dirname(os.getcwd()), flush=True)\n" + bomb, Limits(timeout_s=2.0))
    assert r.status == status and r.seconds < 4.0, r
    base = r.stdout.strip()
    assert base and _gone(token=base), "processes of the bomb survived"


def test_guard_stops_killing_harness_processes():
    victim = subprocess.Popen(["sleep", "30"])
    try:
        r = run_program(f"import os, signal\nos.kill({victim.pid}, signal.SIGKILL)\n", GUARD_ONLY)
        assert r.status == "failed" and "PermissionError" in r.stderr
        time.sleep(0.1)
        assert victim.poll() is None, "the sandboxed program killed a harness process"
    finally:
        victim.kill()
        victim.wait()


@pytest.mark.skipif(not HAS_PIDNS, reason="unshare --pid is not available on this machine")
def test_pid_namespace_stops_killing_harness_processes_without_the_guard():
    victim = subprocess.Popen(["sleep", "30"])
    try:
        r = run_program(f"import os, signal\nos.kill({victim.pid}, signal.SIGKILL)\n", NO_GUARD)
        assert r.status == "failed" and "ProcessLookupError" in r.stderr, r
        time.sleep(0.1)
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()


# ---------------------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------------------
@pytest.fixture
def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.setblocking(False)
    yield s
    s.close()


def _connection_arrived(s: socket.socket, wait: float = 0.3) -> bool:
    readable, _, _ = select.select([s], [], [], wait)
    return bool(readable)


def _connect(port: int) -> str:
    return f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=3)\ns.sendall(b'hi')\n"


def test_network_control_connection_is_seen_without_any_layer(listener):
    """Shows that the listener would notice a connection, so the tests below are not vacuous."""
    r = run_program(_connect(listener.getsockname()[1]), Limits(timeout_s=5.0, guard=False, isolate=False))
    assert r.status == "passed", r.stderr
    assert _connection_arrived(listener, wait=2.0)


@pytest.mark.parametrize("attempt", [
    "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)",
    "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(('127.0.0.1', {port}))",
    "import _socket\n_socket.socket(2, 1).connect(('127.0.0.1', {port}))",
    "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{port}/', timeout=3)",
    "import socket\nsocket.getaddrinfo('localhost', {port})",
])
def test_guard_blocks_network(listener, attempt):
    r = run_program(attempt.format(port=listener.getsockname()[1]) + "\n", GUARD_ONLY)
    assert r.status == "failed" and "PermissionError: sandbox:" in r.stderr, r
    assert not _connection_arrived(listener)


def test_default_limits_block_network(listener):
    r = run_program(_connect(listener.getsockname()[1]), FAST)
    assert r.status == "failed"
    assert not _connection_arrived(listener)


@pytest.mark.skipif(not HAS_NETNS, reason="unshare -rn is not available on this machine")
def test_network_namespace_blocks_network_without_the_guard(listener):
    r = run_program(_connect(listener.getsockname()[1]), NO_GUARD)
    assert r.status == "failed" and "PermissionError: sandbox:" not in r.stderr, r
    assert "Network is unreachable" in r.stderr or "Connection refused" in r.stderr, r.stderr
    assert not _connection_arrived(listener)


# ---------------------------------------------------------------------------------------------------
# File system outside the working directory (guard tested alone)
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("attempt", [
    "import os\nos.remove({path!r})",
    "import os\nos.unlink({path!r})",
    "import pathlib\npathlib.Path({path!r}).unlink()",
    "import os\nos.rename({path!r}, 'stolen')",
    "import os\nos.replace({path!r}, 'stolen')",
    "import shutil\nshutil.move({path!r}, 'stolen')",
    "import os\nos.truncate({path!r}, 0)",
    "import os\nos.chmod({path!r}, 0)",
    "open({path!r}, 'w').write('overwritten')",
    "open({path!r}, 'a').write('appended')",
    "import pathlib\npathlib.Path({path!r}).write_text('overwritten')",
    "import os\nos.open({path!r}, os.O_WRONLY | os.O_TRUNC)",
    "import _io\n_io.FileIO({path!r}, 'w').write(b'overwritten')",
    "import os\nos.symlink({path!r}, 'link')\nopen('link', 'w').write('through a link')",
    "import os\nos.link({path!r}, 'hard')\nopen('hard', 'w').write('through a hard link')",
    "import os\nd = os.open(os.path.dirname({path!r}), os.O_RDONLY)\nos.unlink('precious.txt', dir_fd=d)",
])
def test_guard_protects_an_outside_file(tmp_path, attempt):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    mode = victim.stat().st_mode
    r = run_program(attempt.format(path=str(victim)) + "\n", GUARD_ONLY)
    assert r.status == "failed" and "PermissionError: sandbox:" in r.stderr, r
    assert victim.read_text() == "keep me" and victim.stat().st_mode == mode


@pytest.mark.parametrize("attempt", [
    "import shutil\nshutil.rmtree({path!r})",
    "import os\nfor f in os.listdir({path!r}):\n    os.remove(os.path.join({path!r}, f))\nos.rmdir({path!r})",
    "import os\nos.removedirs({path!r})",
])
def test_guard_protects_an_outside_directory(tmp_path, attempt):
    victim = tmp_path / "precious_dir"
    (victim / "sub").mkdir(parents=True)
    (victim / "sub" / "a.txt").write_text("a")
    (victim / "b.txt").write_text("b")
    r = run_program(attempt.format(path=str(victim)) + "\n", GUARD_ONLY)
    assert r.status == "failed" and "PermissionError: sandbox:" in r.stderr, r
    assert (victim / "sub" / "a.txt").read_text() == "a" and (victim / "b.txt").read_text() == "b"


def test_file_changes_inside_the_working_directory_are_allowed():
    r = run_program("import os, shutil, tempfile, pathlib\n"
                    "open('notes.txt', 'w').write('ok')\n"
                    "pathlib.Path('sub/deeper').mkdir(parents=True)\n"
                    "pathlib.Path('sub/deeper/x.txt').write_text('y')\n"
                    "with tempfile.NamedTemporaryFile('w') as f:\n"
                    "    f.write('t')\n"
                    "with tempfile.TemporaryDirectory() as d:\n"
                    "    open(os.path.join(d, 'z'), 'w').write('z')\n"
                    "os.rename('notes.txt', 'renamed.txt')\n"
                    "print(open('renamed.txt').read(), open('sub/deeper/x.txt').read())\n"
                    "os.chmod('renamed.txt', 0o600)\n"
                    "os.remove('renamed.txt')\n"
                    "shutil.rmtree('sub')\n"
                    "print(sorted(os.listdir('.')))\n", FAST)
    assert r.status == "passed", r.stderr
    assert r.stdout == "ok y\n['program.py']\n"


def test_the_working_directory_itself_cannot_be_removed():
    r = run_program("import os, shutil\nshutil.rmtree(os.getcwd())\n", GUARD_ONLY)
    assert r.status == "failed" and "PermissionError: sandbox:" in r.stderr, r


@pytest.mark.parametrize("source,completed", [
    ("x = 1\n", True),
    ("import sys\nsys.exit(0)\n", False),
    ("import os\nos._exit(0)\n", False),
    ("raise ValueError('no')\n", False),
    ("import sys\nsys.stderr.write('e' * 50000)\n", True),     # output volume does not matter
])
def test_completed_means_the_program_code_returned(source, completed):
    r = run_program(source)
    assert r.completed is completed, r


def test_signal_control_file_cannot_turn_a_failure_into_a_pass():
    attack = ("import os\nfor n in ('signal', 'started'):\n"
              "    try: os.write(os.open(os.path.join('..', n), os.O_WRONLY | os.O_CREAT | os.O_TRUNC), b'0')\n"
              "    except OSError: pass\nraise SystemExit(5)\n")
    for guard in (True, False):
        r = run_program(attack, Limits(guard=guard))
        assert r.status != "passed" and not r.completed, r


# ---------------------------------------------------------------------------------------------------
# Operating-system containment (mount namespace): holds with the Python guard off
# ---------------------------------------------------------------------------------------------------
needs_mounts = pytest.mark.skipif(not PRIVATE_PROC, reason="this machine refuses a mount namespace")


@needs_mounts
@pytest.mark.parametrize("attempt", [
    "os.mkdir({p!r})",
    "open({p!r}, 'w').write('x')",
    "import tempfile; tempfile.mkdtemp(dir={d!r})",
    "import sqlite3; sqlite3.connect({p!r}).execute('create table t(x)')",
    "os.utime({d!r})",
])
def test_nothing_outside_the_private_tmpfs_can_be_written(tmp_path, attempt):
    d = str(tmp_path)
    p = os.path.join(d, "made-by-sandbox")
    before = os.stat(d).st_mtime_ns
    r = run_program("import os\n" + attempt.format(p=p, d=d) + "\n", NO_GUARD)
    assert r.status == "failed" and ("Read-only file system" in r.stderr or "No such file" in r.stderr
                                     or "readonly" in r.stderr.lower() or "unable to open" in r.stderr), r.stderr
    assert not os.path.exists(p) and os.stat(d).st_mtime_ns == before


@needs_mounts
def test_shared_memory_and_tmp_are_private_and_gone_after_the_run():
    name = f"tokenorder-{uuid.uuid4().hex}"
    r = run_program(f"open('/dev/shm/{name}', 'w').write('x')\nopen('/tmp/{name}', 'w').write('x')\n", NO_GUARD)
    assert r.status == "passed", r.stderr
    assert not os.path.exists(f"/dev/shm/{name}") and not os.path.exists(f"/tmp/{name}")


@needs_mounts
def test_host_processes_are_not_visible():
    r = run_program("import os\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n", NO_GUARD)
    assert r.status == "passed", r.stderr
    pids = json.loads(r.stdout)
    assert 1 in pids and len(pids) <= 4, pids             # the namespace's init, the program, nothing of the host


@needs_mounts
def test_disk_use_is_capped_by_the_private_tmpfs():
    r = run_program("data = b'x' * (1 << 20)\nfor i in range(40):\n    open(f'f{i}', 'wb').write(data)\n",
                    Limits(timeout_s=10.0, guard=False, disk_mb=16))
    assert r.status == "failed" and "No space left on device" in r.stderr, r.stderr


@needs_mounts
def test_a_host_unix_socket_is_out_of_reach(tmp_path):
    path = str(tmp_path / "host.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    try:
        r = run_program(f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({path!r})\n", NO_GUARD)
        assert r.status == "failed", r
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()


# ---- kernel-level layers: the seccomp filter and the run's cgroup ---------------------------------------
import platform  # noqa: E402

from tasks.sandbox.host import cgroups_usable  # noqa: E402

needs_seccomp = pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64"),
                                   reason="the seccomp filter is written for x86_64 and aarch64")
needs_cgroup = pytest.mark.skipif(not cgroups_usable(), reason="this machine does not let us make a cgroup")


@needs_seccomp
def test_a_unix_socket_on_a_read_only_mount_outside_tmp_is_out_of_reach():
    """Outside /tmp, /run and /dev/shm the mount namespace only makes a socket read-only, and connecting needs
    no write: the seccomp filter is what stops it (no socket can be made at all), guard off."""
    import shutil
    import tempfile
    outside = tempfile.mkdtemp(prefix=".sandbox-sock-", dir=os.path.dirname(os.path.dirname(__file__)))
    path = os.path.join(outside, "host.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(path)
        server.listen(1)
        r = run_program(f"import _socket\ns = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)\n"
                        f"s.connect({path!r})\nprint('CONNECTED')\n", NO_GUARD)
        assert r.status == "failed" and "CONNECTED" not in r.stdout, r
        assert "Operation not permitted" in r.stderr, r.stderr
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()
        shutil.rmtree(outside, ignore_errors=True)


@needs_seccomp
@pytest.mark.parametrize("call", ["socket(2, 1, 0)", "socket(1, 2, 0)", "syscall(425, 8, 0)"],
                         ids=["inet", "unix-datagram", "io_uring_setup"])
def test_native_code_cannot_make_sockets_or_an_io_uring(call):
    """Through ctypes (guard off), straight to libc: the kernel answers EPERM."""
    src = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
           f"rc = libc.{call}\nprint(rc, ctypes.get_errno())\n")
    r = run_program(src, NO_GUARD)
    assert r.status == "passed" and r.stdout.split() == ["-1", "1"], r


@needs_cgroup
def test_the_whole_run_has_one_memory_ceiling():
    """Four processes of 400 MB each stay under the per-process RLIMIT_AS (1 GB) but not under the run's 1 GB
    cgroup ceiling: the kernel kills some of them; with a 4 GB ceiling all four live."""
    src = """
import os, time
kids = []
for k in range(4):
    pid = os.fork()
    if pid == 0:
        a = bytearray(400 * 2**20)
        for i in range(0, len(a), 4096):
            a[i] = 1
        time.sleep(2)
        os._exit(0)
    kids.append(pid)
print('killed', sum(os.waitpid(p, 0)[1] != 0 for p in kids))
"""
    r = run_program(src, Limits(guard=False, timeout_s=30.0))
    assert r.stdout.split()[:1] == ["killed"] and int(r.stdout.split()[1]) >= 1, r
    assert "over its memory ceiling of 1024 MB" in r.stderr
    r = run_program(src, Limits(guard=False, timeout_s=30.0, run_memory_mb=4096))
    assert r.stdout.split() == ["killed", "0"] and "ceiling" not in r.stderr, r


@needs_cgroup
def test_the_process_count_is_bounded_for_root_too():
    """RLIMIT_NPROC does not bind root; the cgroup's pids.max does (guard off, so the forks are real)."""
    src = """
import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(3)
            os._exit(0)
        n += 1
except OSError as e:
    print('stopped', n, e.errno)
"""
    r = run_program(src, Limits(guard=False, timeout_s=10.0, max_processes=16))
    words = r.stdout.split()
    assert words[:1] == ["stopped"] and int(words[1]) < 16 and words[2] == "11", r


@needs_cgroup
def test_no_cgroup_is_left_behind():
    from tasks.sandbox.cgroup import parent_dirs
    before = {p: set(os.listdir(p)) for p in parent_dirs().values()}
    run_program("print(1)\n", FAST)
    assert {p: set(os.listdir(p)) for p in parent_dirs().values()} == before


@needs_cgroup
@needs_mounts
def test_the_program_cannot_leave_its_cgroup():
    src = """
import os
mine = [l.split(':', 2)[2].strip() for l in open('/proc/self/cgroup') if 'tokenorder-sandbox-' in l]
print('inside', len(mine))
for root, dirs, files in os.walk('/sys/fs/cgroup'):
    if 'cgroup.procs' in files and 'tokenorder-sandbox-' not in root:
        try:
            open(os.path.join(root, 'cgroup.procs'), 'w').write(str(os.getpid()))
            print('MOVED', root)
        except OSError:
            pass
    dirs[:] = [] if root.count('/') > 5 else dirs
"""
    r = run_program(src, NO_GUARD)
    assert r.status == "passed" and int(r.stdout.split()[1]) >= 1 and "MOVED" not in r.stdout, r
