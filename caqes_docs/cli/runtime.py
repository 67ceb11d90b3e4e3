"""The ``caqes`` root group: commands loaded on demand, every failure reported in one place.

- :class:`CaqesGroup` imports a command's module only when that command runs or its help is
  shown (click's documented "lazily loading subcommands" pattern). The command modules import
  the library inside their functions, so listing the commands (``caqes --help``) costs only
  click.
- :func:`reported_errors` (as pyHanko's ``cli/runtime.py``) turns every exception that escapes
  a command into French lines on standard error: a library error (:class:`CaqesError`) gives
  its own message; a file the system, a decoder or a parser could not use gives one line
  naming the file and what to do; the traceback is printed only with ``--verbose``.

Exit statuses: 0 success; 1 a refusal or a library error; 2 an input that cannot be read or
used (missing, unreadable, wrongly encoded or malformed file, bad option), as click does for
usage errors. A command may ask for 2 on the library's input errors too (``batch``: its
targeting file), through :func:`input_errors_are_unreadable`.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from caqes_docs.errors import CaqesError, InputError
from caqes_docs.files import system_reason

UNREADABLE_STATUS = 2
_INPUT_ERRORS_UNREADABLE = "caqes.input_errors_unreadable"
_ARGUMENTS = "caqes.arguments"


class CaqesGroup(click.Group):
    """A group whose commands are named ``"module:attribute"`` and imported when used."""

    def __init__(self, *args: Any, lazy_commands: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy_commands:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = self.lazy_commands[cmd_name].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy_commands[cmd_name]} is not a click command")
        return command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[_ARGUMENTS] = list(args)  # to name the files when an error does not
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        with reported_errors(ctx):
            return super().invoke(ctx)


def input_errors_are_unreadable() -> None:
    """Within the running command: the library's input errors exit with status 2."""
    click.get_current_context().meta[_INPUT_ERRORS_UNREADABLE] = True


@contextlib.contextmanager
def reported_errors(ctx: click.Context) -> Iterator[None]:
    """Report whatever a command raises as French lines, then exit with its status."""
    try:
        yield
    except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        raise  # click's own: usage errors, --help, Ctrl-C, already in French
    except Exception as exc:  # the one place where everything is reported
        if ctx.params.get("verbose"):
            traceback.print_exception(exc, file=sys.stderr)
        lines, status = describe(exc, files_named(ctx))
        if isinstance(exc, InputError) and ctx.meta.get(_INPUT_ERRORS_UNREADABLE):
            status = UNREADABLE_STATUS
        for line in lines:
            click.echo(line, err=True)
        ctx.exit(status)


def files_named(ctx: click.Context) -> list[str]:
    """The existing files given on the command line, to name when an error does not."""
    words = ctx.meta.get(_ARGUMENTS, [])
    return [word for word in words if not word.startswith("-") and Path(word).is_file()]


def describe(exc: BaseException, files: Sequence[str]) -> tuple[list[str], int]:
    """French lines (each with its prefix) and the exit status for an exception."""
    if isinstance(exc, CaqesError):
        return [f"Erreur : {line}" for line in str(exc).splitlines() or [""]], 1
    where = " ou ".join(f"« {name} »" for name in files) or "un des fichiers donnés"
    if isinstance(exc, OSError):
        name = exc.filename if exc.filename is not None else where
        return [f"Erreur : {name} : {system_reason(exc)} ; vérifier le chemin et les droits"], 2
    if isinstance(exc, UnicodeError):
        return [f"Erreur : {where} : texte illisible (pas en UTF-8) ; l'enregistrer en UTF-8"], 2
    kind = _library_kind(exc)
    if kind is not None:
        return [f"Erreur : {where} : {kind} ; détail avec caqes --verbose"], 2
    return [
        f"Erreur : erreur inattendue ({type(exc).__name__}) en traitant {where} ; relancer avec "
        "caqes --verbose et transmettre le détail à l'équipe qui maintient caqes-docs"
    ], 1


# The top-level package of an exception's class -> what it means for the user's file. Matched
# by name so that reporting an error never imports pyHanko, pydantic or a spreadsheet reader.
_LIBRARY_KINDS = {
    "pyhanko": "PDF illisible ou non conforme (est-ce bien le PDF émis ou signé, non modifié ?)",
    "pyhanko_certvalidator": "certificat illisible ou chaîne de certification invalide",
    "asn1crypto": "certificat ou signature illisible",
    "pypdf": "PDF illisible ou non conforme",
    "pydantic_core": "données non conformes au format attendu",
    "pydantic": "données non conformes au format attendu",
    "yaml": "fichier YAML illisible",
    "openpyxl": "classeur illisible ; l'ouvrir et l'enregistrer de nouveau (.xlsx ou .ods)",
    "python_calamine": "classeur illisible ; l'ouvrir et l'enregistrer de nouveau (.xlsx ou .ods)",
    "zipfile": "archive illisible (classeur ou document Word abîmé ou d'un autre format)",
    "docx": "document Word illisible",
    "lxml": "contenu XML illisible",
    "json": "fichier JSON illisible",
    "csv": "fichier CSV illisible",
}


def _library_kind(exc: BaseException) -> str | None:
    for kind in type(exc).__mro__:
        package = kind.__module__.split(".")[0]
        if package in _LIBRARY_KINDS:
            return _LIBRARY_KINDS[package]
    return None


def quiet_libraries(verbose: bool) -> None:
    """Without --verbose, the libraries' own warnings and log lines (English) stay silent."""
    import logging
    import warnings

    if verbose:
        logging.basicConfig(level=logging.WARNING, format="%(name)s : %(message)s")
        return
    warnings.simplefilter("ignore")
    logging.getLogger().addHandler(logging.NullHandler())  # no "last resort" handler either
