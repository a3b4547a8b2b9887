"""Bundled learning rules, one module each; importing this package registers them all."""

from . import stbp, tsslbp  # noqa: F401
from .base import Method  # noqa: F401
