"""Packages are found, not listed: every package under monitor/, plus the
shipped rules/ folder, which travels as monitor.bundled_rules (mapped in
pyproject.toml). The rest of the build is configured in pyproject.toml."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["monitor", "monitor.*"]), "monitor.bundled_rules"])
