"""Entry point for `gunicorn wsgi:app`."""

import sys

from app import create_app
from app.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    print(f"error: {exc}", file=sys.stderr, flush=True)
    sys.exit(4)  # gunicorn's "App failed to load": the arbiter stops instead of respawning workers
