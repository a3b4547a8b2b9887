"""Bundled learning rules, one module each; importing this package registers them all."""

from . import slayer, st_rsbp, stbp, tet, tsslbp  # noqa: F401
from .base import Method  # noqa: F401
