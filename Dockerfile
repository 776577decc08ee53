# syntax=docker/dockerfile:1
# One image for every process of the service: `sqr-reports api` (the default command),
# `sqr-reports worker`, `sqr-reports migrate`, and the embedded `sqr-reports serve`.
# See docs/deploy.md. Build: docker build -t sqr-reports .

# Both stages must use the same Python: the venv is copied from one to the other as is.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: the locked dependencies (hash-checked), then the project itself --------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
WORKDIR /src
# The runtime lock (no test or lint tools) first, so this layer is rebuilt only when it changes.
COPY requirements-runtime.lock ./
RUN /opt/venv/bin/pip install --require-hashes -r requirements-runtime.lock
COPY pyproject.toml README.md ./
COPY src ./src
# A regular (not editable) install: templates, fonts and migrations are copied into the venv.
RUN /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/sqr-reports --version

# -- runtime: the venv and an unprivileged user, nothing else ---------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SQR_REPORTS_DATA_DIR=/data
RUN groupadd --system --gid 10001 sqr \
    && useradd --system --uid 10001 --gid sqr --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin sqr \
    && mkdir /data \
    && chown sqr:sqr /data \
    && chmod 0700 /data
COPY --from=build /opt/venv /opt/venv
# /data holds the embedded mode's database, keys and reports; the scale-out mode keeps nothing
# there (PostgreSQL, S3, and signing keys from mounted secrets).
WORKDIR /data
USER 10001:10001
EXPOSE 8000
# Liveness of the API on port 8000 (slim images have no curl). Workers and one-shot commands
# serve no HTTP: disable the check for them (compose.yaml does).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["sqr-reports", "api", "--host", "0.0.0.0", "--port", "8000"]
