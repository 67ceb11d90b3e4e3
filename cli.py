"""Run the ``caqes`` command line from a checkout: ``python cli.py --help``."""

from caqes_docs.cli import main

if __name__ == "__main__":
    main(prog_name="caqes")
