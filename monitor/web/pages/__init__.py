"""One module per page; each registers its routes on the application."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from . import delivery, feedback, matches, rules, signin, sources, status, story

    for page in (signin, matches, story, feedback, sources, rules, delivery, status):
        page.register(app)
