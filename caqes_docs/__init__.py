"""caqes-docs: production, signature and follow-up of CAQES contracts."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("caqes-docs")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+checkout"
