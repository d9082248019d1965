"""The dashboard: server-rendered pages over the store, served by the
monitor's own HTTP endpoint (monitor/httpapi.py) when `http.listen` is set.

Flask routes, one small module per page under pages/, Jinja templates with
autoescaping on every template, and a stylesheet and a few lines of script
under static/ (every page works without them). Reads and writes go through
the store (monitor/store/web.py); no SQL is written here.

Security (see auth.py): a sign-in off loopback, a CSRF token on every POST,
no GET that changes anything, a Content-Security-Policy with no inline
script, links limited to http and https, and no secret on any page.
"""

from .app import Dashboard, create_app

__all__ = ["Dashboard", "create_app"]
