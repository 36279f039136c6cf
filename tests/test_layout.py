"""The tree is the architecture: every room is a documented package, the doors of DESIGN.md hold as import
contracts (``.importlinter``), there are no import cycles, and the sandbox's child side imports only the
standard library."""
from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint(config: Path) -> subprocess.CompletedProcess:
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filenames=(sys.argv[1],), no_cache=True))")
    return subprocess.run([sys.executable, "-c", code, str(config)], cwd=ROOT, capture_output=True, text=True)


def test_the_doors_of_design_md_hold_and_there_are_no_cycles():
    proc = _lint(ROOT / ".importlinter")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout and "No import cycles" in proc.stdout


def test_a_door_that_the_code_crosses_is_reported(tmp_path):
    # the runner does use the decoding core: a contract forbidding it must fail, naming the import
    cfg = tmp_path / "probe.ini"
    cfg.write_text("[importlinter]\nroot_packages =\n    harness\n    tasks\n\n"
                   "[importlinter:contract:probe]\nname = probe\ntype = forbidden\n"
                   "source_modules =\n    harness.run\nforbidden_modules =\n    harness.decoding\n")
    proc = _lint(cfg)
    assert proc.returncode != 0 and "harness.run" in proc.stdout and "harness.decoding" in proc.stdout


@pytest.mark.parametrize("package", ["harness", "tasks"])
def test_every_package_says_what_room_it_is(package):
    root = ROOT / package
    for init in [root / "__init__.py", *root.glob("*/__init__.py")]:
        if init.parent.name == "__pycache__":
            continue
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc.split()) >= 8, f"{init.relative_to(ROOT)} needs a one-paragraph docstring"


def test_no_library_module_reads_argparse():
    # argument parsing stays in the command-line modules
    allowed = {"harness/cli_args.py", "harness/run/cli.py", "harness/figure/__main__.py", "harness/report/build.py",
               "harness/results.py", "harness/integrations/lm_eval_cli.py"}
    offenders = []
    for path in [*ROOT.glob("harness/**/*.py"), *ROOT.glob("tasks/**/*.py")]:
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        if "argparse" in names and rel not in allowed:
            offenders.append(rel)
    assert not offenders, offenders


def test_the_sandbox_child_imports_only_the_standard_library():
    tree = ast.parse((ROOT / "tasks" / "sandbox" / "child.py").read_text())
    mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    mods |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not any(isinstance(n, ast.ImportFrom) and n.level > 0 for n in ast.walk(tree))
    assert mods <= set(sys.stdlib_module_names), mods - set(sys.stdlib_module_names)


def test_every_module_imports_on_its_own():
    import harness
    import tasks
    for pkg in (harness, tasks):
        for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if not m.name.endswith("__main__"):
                __import__(m.name)
