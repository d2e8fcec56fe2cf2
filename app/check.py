"""`python -m app.check`: every setting of the reference app checked once, as the app would read
it; one `error:` line and exit status 4 (gunicorn's "App failed to load") for the first bad one.
gunicorn's master runs it before starting any worker, without importing the app itself."""

from __future__ import annotations

import sys

from . import env
from .config import ConfigError, load_settings


def main() -> int:
    """Check every setting once; one `error:` line and exit 4 (gunicorn's "App failed to load") if one is bad."""
    try:
        environ = env.environment()
        env.check_required(environ)
        load_settings(environ)
    except (ConfigError, env.ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main())
