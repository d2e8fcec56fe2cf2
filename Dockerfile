# syntax=docker/dockerfile:1
# The production image: docker build -t flask-google-signin .   (docs/deployment.md)
# Stages: build (a virtualenv from the lock, requirements.txt, plus the extension, flask_google_signin/),
# local-provider (the test OpenID provider for `docker compose --profile local`, never deployed), and
# the final, unnamed app stage.
# The Python that CI tests (tests/deploy/test_packaging.py keeps this, the locks' target and CI's equal).
ARG PYTHON_IMAGE=python:3.11-slim-trixie

# ---------------------------------------------------------------- build
# The lock first, every file checked against its hash (--require-hashes) and nothing beyond it
# (--no-deps). Wheels only (--only-binary): nothing is compiled, so no compiler is needed even here,
# and the virtualenv has no pip of its own: the base image's pip installs into it with --python, which
# pip takes only before the subcommand (`pip install --python ...` stops with an error).
FROM ${PYTHON_IMAGE} AS build
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv --without-pip /opt/venv \
 && pip --python /opt/venv/bin/python install --no-cache-dir --disable-pip-version-check \
      --require-hashes --no-deps --only-binary=:all: -r /tmp/requirements.txt
# Then the extension itself from its source, without dependencies: the lock above has them all (pip
# fetches the build backend, setuptools, for this build only; none of it lands in the venv).
# Its own layer, so an edit to the code does not reinstall the dependencies. README.md and LICENSE:
# the metadata names them (readme, license-files), and the licence ships in the installed package.
COPY pyproject.toml /src/pyproject.toml
COPY README.md LICENSE /src/
COPY flask_google_signin/ /src/flask_google_signin/
RUN pip --python /opt/venv/bin/python install --no-cache-dir --disable-pip-version-check --no-deps /src

# ---------------------------------------------------------------- local-provider (compose profile "local")
FROM ${PYTHON_IMAGE} AS local-provider
COPY requirements-local.txt /tmp/requirements-local.txt
RUN python -m venv --without-pip /opt/venv \
 && pip --python /opt/venv/bin/python install --no-cache-dir --disable-pip-version-check \
      --require-hashes --no-deps --only-binary=:all: -r /tmp/requirements-local.txt \
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
# The dependencies and the extension (flask_google_signin, with its default templates) live in the venv.
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The reference app's code belongs to root and is read-only to the app; only instance/ (file
# sessions) is writable.
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
