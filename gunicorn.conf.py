"""gunicorn settings, read by `gunicorn wsgi:app` from the working directory."""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 - a container must listen beyond loopback
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 8)))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))  # gthread: a slow provider call holds a thread, not a worker
worker_class = "gthread"
timeout = 30  # a provider call is capped at PROVIDER_TIMEOUT (8 s) well before this
graceful_timeout = 20
keepalive = 5
# Which peers may set X-Forwarded-Proto for gunicorn itself: none unless the operator says so.
# The app's own proxy trust is TRUSTED_PROXIES (werkzeug ProxyFix).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "")
accesslog = "-"
errorlog = "-"
# %(U)s is the path without its query string: /callback?code=...&state=... must never be logged.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s" request_id=%({x-request-id}o)s'
