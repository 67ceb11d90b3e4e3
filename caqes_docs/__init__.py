"""caqes-docs: production, signature and follow-up of CAQES contracts."""

from typing import Any


def __getattr__(name: str) -> Any:
    # __version__ on demand: importlib.metadata costs tens of ms at every command's start-up.
    if name != "__version__":
        raise AttributeError(f"module 'caqes_docs' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("caqes-docs")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0+checkout"
