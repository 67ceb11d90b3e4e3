"""A fast command line: each command imports only what it uses.

Each check runs in a new Python process (the test process has long imported everything) and
reads ``sys.modules`` once the command has answered. Timings live in bench/bench_cli.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from caqes_docs.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("pyhanko", "fontTools", "docxtpl", "matplotlib", "django")


def imported_after(*args: str, env: dict[str, str] | None = None) -> set[str]:
    """Top-level packages in ``sys.modules`` after ``caqes ARGS`` (exit status ignored)."""
    script = (
        "import json, sys\n"
        "from caqes_docs.cli import main\n"
        "try:\n"
        f"    main({list(args)!r}, prog_name='caqes')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return set(json.loads(run.stdout.splitlines()[-1]))


def heavy(modules: set[str]) -> set[str]:
    return modules & set(HEAVY)


def test_importing_the_cli_loads_no_library() -> None:
    script = "import json, sys, caqes_docs.cli; print(json.dumps(list(sys.modules)))"
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    modules = {name.split(".")[0] for name in json.loads(run.stdout)}
    assert not heavy(modules) and "pydantic" not in modules


def test_help_lists_every_command_without_pyhanko() -> None:
    modules = imported_after("--help")
    assert not heavy(modules)
    assert "pydantic" not in modules  # no command module reads the library at import


@pytest.mark.parametrize("command", ["verify", "sign", "batch", "status", "generate"])
def test_command_help_without_pyhanko(command: str) -> None:
    assert not heavy(imported_after(command, "--help"))


def test_status_without_pyhanko(tmp_path: Path) -> None:
    from caqes_docs.registry.store import Registry

    with Registry.open(tmp_path / "caqes.db"):
        pass
    assert not heavy(imported_after("status", "--registry", str(tmp_path / "caqes.db")))


def test_every_registered_command_loads() -> None:
    """A wrong "module:attribute" in COMMANDS would only show when that command is typed."""
    from click import Context

    context = Context(main)
    for name in COMMANDS:
        command = main.get_command(context, name)
        assert command is not None and command.name == name


def test_repeated_choices_agree_with_the_library() -> None:
    """The CLI repeats two lists so that its help stays light; they must not drift."""
    from caqes_docs.cli import lifecycle, signing
    from caqes_docs.registry.amendments import VOLET_NAMES
    from caqes_docs.signatures.signing import LEVELS

    assert signing.LEVELS == LEVELS
    assert lifecycle.VOLET_NAMES == VOLET_NAMES
