"""``python -m caqes_docs``: the ``caqes`` command line."""

from caqes_docs.cli import main

main(prog_name="caqes")
