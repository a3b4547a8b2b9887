"""Declared benchmark suites (TOML), shipped as package data: ``snnbench suite run smoke``."""
