# syntax=docker/dockerfile:1
# One image for every process of the service: `sqr-reports api` (the default command),
# `sqr-reports worker`, `sqr-reports migrate`, the embedded `sqr-reports serve` and the admin
# commands. See docs/deploy.md.
#
#   docker build -t sqr-reports:0.1.0 --build-arg VERSION=0.1.0 \
#       --build-arg REVISION="$(git rev-parse HEAD)" .
#
# BASE_IMAGE is any Debian-based image with python3 (3.11 or newer) and its venv module. Both
# stages use it, because the venv is copied from one to the other as it is. CI builds on a base
# made locally from Debian packages (scripts/container-ci.sh); everyone else uses the default.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# -- build: the locked dependencies (hash-checked), then the project itself --------------------------
FROM ${BASE_IMAGE} AS build
# Marks this stage's images too, so that an engine's clean-up can find superseded ones.
LABEL org.opencontainers.image.title="sqr-reports"
# pip trusts the system's CA store (not its own copy of certifi's), so a build behind a
# TLS-inspecting proxy needs only that proxy's CA bundle mounted over the system one.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
WORKDIR /src
# The runtime lock (no test or lint tools) first, so this layer is rebuilt only when it changes.
# Wheels only: the image needs no compiler. The cache mount keeps downloaded wheels between
# builds without putting them in a layer.
COPY requirements-runtime.lock ./
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/venv/bin/pip install --require-hashes --only-binary=:all: -r requirements-runtime.lock
COPY pyproject.toml README.md ./
COPY src ./src
# A regular (not editable) install: templates, fonts and migrations are copied into the venv, and
# pip compiles every module, so a read-only root file system costs nothing at start. Then pip and
# setuptools leave the venv: nothing installs anything at run time (26 MB less).
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools \
    && /opt/venv/bin/sqr-reports --version

# -- runtime: the venv, tini and an unprivileged user, nothing else ---------------------------------
FROM ${BASE_IMAGE} AS runtime
# tini is PID 1: it forwards SIGTERM to the one process it starts (not to its render processes,
# which that process stops itself) and reaps whatever exits, and `migrate` and the admin
# commands, which install no signal handler, still stop on SIGTERM.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 sqr \
    && useradd --system --uid 10001 --gid sqr --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin sqr \
    && mkdir /data \
    && chown sqr:sqr /data \
    && chmod 0700 /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SQR_REPORTS_DATA_DIR=/data
# Writable paths, for a read-only root file system: /data (the embedded mode's database, keys and
# reports: a volume; the scale-out processes keep nothing there, so a tmpfs does) and /tmp (each
# render process's private copy of the templates, and the report data while it renders: a tmpfs).
# Nothing else is written, and nothing is fetched at run time: fonts and templates are in the venv.
WORKDIR /data
USER 10001:10001
EXPOSE 8000
# Liveness of the API on port 8000, with Python (the image has no curl). Workers and one-shot
# commands serve no HTTP: disable the check for them (compose.yaml does).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["sqr-reports", "api", "--host", "0.0.0.0", "--port", "8000"]
# Last, so a new version or revision changes only this metadata step, not a cached layer.
ARG VERSION=dev
ARG REVISION=""
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="sqr-reports" \
      org.opencontainers.image.description="SQR's PDF Report API: asynchronous identity-verification PDF reports" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0"
