"""What every command of the CLI shares: French help settings and the error reporting."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from caqes_docs.cli import francais  # noqa: F401 - French messages before any command
from caqes_docs.errors import CaqesError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
DIRECTORY = click.Path(file_okay=False, path_type=Path)


def fail(message: str, status: int = 1) -> None:
    click.echo(f"Erreur : {message}", err=True)
    sys.exit(status)


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's errors into one French line each (traceback with --verbose)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CaqesError as exc:
            if click.get_current_context().find_root().params.get("verbose"):
                traceback.print_exc()
            for line in str(exc).splitlines():
                click.echo(f"Erreur : {line}", err=True)
            sys.exit(1)

    return wrapper
