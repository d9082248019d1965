"""Privacy and surveillance media monitor."""

__version__ = "0.1.0"
