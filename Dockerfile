# syntax=docker/dockerfile:1
# The production image: docker build -t flask-google-signin .   (docs/deployment.md)
# Stages: build (a virtualenv from requirements.txt), local-provider (the test OpenID provider for
# `docker compose --profile local`, never deployed), and the final, unnamed app stage.
ARG PYTHON_IMAGE=python:3.12-slim-trixie

# ---------------------------------------------------------------- build
# Wheels only (--only-binary): nothing is compiled, so no compiler is needed even here, and the
# virtualenv has no pip of its own (the base image's pip installs into it with --python).
FROM ${PYTHON_IMAGE} AS build
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv --without-pip /opt/venv \
 && pip install --no-cache-dir --disable-pip-version-check --only-binary=:all: \
      --python /opt/venv/bin/python -r /tmp/requirements.txt

# ---------------------------------------------------------------- local-provider (compose profile "local")
FROM ${PYTHON_IMAGE} AS local-provider
COPY requirements-local.txt /tmp/requirements-local.txt
RUN python -m venv --without-pip /opt/venv \
 && pip install --no-cache-dir --disable-pip-version-check \
      --python /opt/venv/bin/python -r /tmp/requirements-local.txt \
 && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin provider
USER 10001:10001
EXPOSE 9400
# Options (host, port, users) come from docker-compose.yml. No CMD here: the app's is the one CMD.
ENTRYPOINT ["/opt/venv/bin/python", "-m", "oidc_provider_mock"]

# ---------------------------------------------------------------- the app
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8000
# An unprivileged user with no home and no shell; numeric ids so runAsNonRoot can verify it.
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The code belongs to root and is read-only to the app; only instance/ (file sessions) is writable.
COPY app/ app/
COPY templates/ templates/
COPY static/ static/
COPY wsgi.py gunicorn.conf.py ./
RUN python -m compileall -q app wsgi.py gunicorn.conf.py \
 && mkdir instance && chown 10001:10001 instance
USER 10001:10001
EXPOSE 8000
# No curl in the image: the standard library asks /healthz (any error or non-2xx exits 1).
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/healthz', timeout=2)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
