"""The engine version, recorded in every result."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rca-engine")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+local"
