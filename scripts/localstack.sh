#!/usr/bin/env bash
# LocalStack's S3 on this host (no Docker), for the integration tests of the S3 blob store.
#
#   scripts/localstack.sh          install if needed, start, wait until S3 answers (idempotent)
#   scripts/localstack.sh stop     stop the instance this script started
#   scripts/localstack.sh status   exit 0 if it is up and healthy
#
# Why LocalStack: it is the only S3 that runs here and really verifies SigV4 presigned URLs, so the
# tests can prove that a tampered or expired download link is refused (moto accepts anything).
# Then: SQR_REPORTS_TEST_S3_ENDPOINT=http://127.0.0.1:4566 .venv/bin/pytest tests/test_s3_store.py
set -euo pipefail

# 4.14.0 is the last release that starts without a LocalStack account: from 2026.3.0 on (and in
# 4.15+), the runtime refuses to start without LOCALSTACK_AUTH_TOKEN.
LOCALSTACK_VERSION="4.14.0"
VENV="${LOCALSTACK_VENV:-$HOME/.cache/sqr-reports/localstack-venv}"
RUN_DIR="${LOCALSTACK_RUN_DIR:-$HOME/.cache/sqr-reports/localstack-run}"
PORT="${LOCALSTACK_PORT:-4566}"
WAIT_SECONDS="${LOCALSTACK_WAIT_SECONDS:-90}"
PID_FILE="$RUN_DIR/localstack.pid"
LOG_FILE="$RUN_DIR/localstack.log"
HEALTH_URL="http://127.0.0.1:$PORT/_localstack/health"
# Every transitive dependency pinned to what PyPI served when 4.14.0 came out (resolved with
# `uv pip compile --exclude-newer 2026-02-28`): newer releases break it (cbor2 6 dropped the
# `cbor2._decoder` module that LocalStack imports, and the runtime then finds "no component plugins").
PINS="
annotated-types==0.7.0 asn1crypto==1.5.1 attrs==25.4.0 awscrt==0.31.2
boto3==1.42.54 botocore==1.42.54 cachetools==7.0.1 cbor2==5.8.0
certifi==2026.2.25 cffi==2.0.0 charset-normalizer==3.4.4 click==8.3.1
constantly==23.10.4 cryptography==46.0.5 dill==0.3.6 dnslib==0.9.26
dnspython==2.8.0 docker==7.1.0 h11==0.16.0 h2==4.3.0
hpack==4.1.0 hypercorn==0.18.0 hyperframe==6.1.0 hyperlink==21.0.0
idna==3.11 incremental==24.11.0 isodate==0.7.2 jmespath==1.1.0
jsonpatch==1.33 jsonpointer==3.0.0 jsonschema==4.26.0 jsonschema-path==0.3.4
jsonschema-specifications==2025.9.1 lazy-object-proxy==1.12.0 localstack-twisted==25.5.0 markdown-it-py==4.0.0
markupsafe==3.0.3 mdurl==0.1.2 more-itertools==10.8.0 openapi-core==0.22.0
openapi-schema-validator==0.6.3 openapi-spec-validator==0.7.2 packaging==26.0 pathable==0.4.4
plux==1.14.0 priority==1.3.0 psutil==7.2.2 pycparser==3.0
pydantic==2.12.5 pydantic-core==2.41.5 pygments==2.19.2 pyopenssl==25.3.0
python-dateutil==2.9.0.post0 python-dotenv==1.2.1 pyyaml==6.0.3 readerwriterlock==1.0.9
referencing==0.36.2 requests==2.32.5 requests-aws4auth==1.3.1 rfc3339-validator==0.1.4
rich==14.3.3 rolo==0.8.1 rpds-py==0.30.0 s3transfer==0.16.0
semver==3.0.4 six==1.17.0 typing-extensions==4.15.0 typing-inspection==0.4.2
urllib3==2.6.3 werkzeug==3.1.6 wsproto==1.3.2 xmltodict==1.0.4
zope-interface==8.2
"
# The stamp names version and pins, so changing either rebuilds the venv.
STAMP="$VENV/.sqr-reports-localstack-$LOCALSTACK_VERSION-$(printf '%s' "$PINS" | sha256sum | cut -c1-12)"

log() { printf 'localstack.sh: %s\n' "$*" >&2; }

find_python313() {
    local candidate
    if command -v pyenv >/dev/null 2>&1; then
        for candidate in "$(pyenv root)"/versions/3.13*/bin/python3.13; do
            if [[ -x "$candidate" ]]; then
                echo "$candidate"
                return 0
            fi
        done
    fi
    command -v python3.13 && return 0
    log "no Python 3.13 found (pyenv 3.13.x or python3.13 on PATH); LocalStack $LOCALSTACK_VERSION needs it"
    return 1
}

install() {
    # The stamp is written last, so an interrupted install is redone rather than half-used.
    [[ -f "$STAMP" ]] && return 0
    local python
    python="$(find_python313)"
    log "creating $VENV with $python and installing localstack-core==$LOCALSTACK_VERSION"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$python" -m venv "$VENV"
    # base-runtime is what the S3 provider needs; the full "runtime" extra adds ~1 GB of other
    # services (Java bridges, awscli, moto-ext[all]) that we never start.
    local constraints="$VENV/constraints.txt"
    printf '%s\n' "$PINS" | tr -s ' ' '\n' | sed '/^$/d' >"$constraints"
    "$VENV/bin/python" -m pip install -qq --disable-pip-version-check --only-binary=:all: \
        -c "$constraints" "localstack-core[base-runtime]==$LOCALSTACK_VERSION"
    touch "$STAMP"
}

running_pid() {
    # The pid in the file, only if that process is still our LocalStack (pids get reused).
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    if [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'localstack.runtime.main'; then
        echo "$pid"
        return 0
    fi
    return 1
}

s3_healthy() {
    # "available" = registered but lazily not started yet, "running" = started; both serve requests.
    curl -fsS --max-time 2 "$HEALTH_URL" 2>/dev/null | grep -Eq '"s3": *"(available|running)"'
}

start() {
    install
    mkdir -p "$RUN_DIR"
    if running_pid >/dev/null; then
        if s3_healthy; then
            log "already running (pid $(running_pid)) on 127.0.0.1:$PORT"
            return 0
        fi
    elif curl -fsS --max-time 2 "$HEALTH_URL" >/dev/null 2>&1; then
        log "something else already answers on 127.0.0.1:$PORT; not starting a second LocalStack"
        return 1
    else
        # A fresh, empty filesystem root each start: no state survives between test runs.
        rm -rf "$RUN_DIR/filesystem"
        log "starting LocalStack $LOCALSTACK_VERSION S3 on 127.0.0.1:$PORT (log: $LOG_FILE)"
        # S3_SKIP_SIGNATURE_VALIDATION defaults to *true* in LocalStack (tampered and expired URLs
        # are only logged); 0 makes it refuse them with 403 like AWS, which is what the tests prove.
        # DISABLE_EVENTS and SKIP_SSL_CERT_DOWNLOAD keep it from calling out to the internet;
        # DNS_ADDRESS=0 keeps it from starting a DNS server on port 53, which S3 does not need.
        # GATEWAY_SERVER=hypercorn: the default (twisted) server ignores the host of GATEWAY_LISTEN
        # and listens on 0.0.0.0; this S3 takes well-known credentials, so it stays on loopback.
        env SERVICES=s3 \
            GATEWAY_LISTEN="127.0.0.1:$PORT" \
            GATEWAY_SERVER=hypercorn \
            PERSISTENCE=0 \
            S3_SKIP_SIGNATURE_VALIDATION=0 \
            DISABLE_EVENTS=1 \
            SKIP_SSL_CERT_DOWNLOAD=1 \
            DNS_ADDRESS=0 \
            FILESYSTEM_ROOT="$RUN_DIR/filesystem" \
            DEBUG=0 \
            nohup "$VENV/bin/python" -m localstack.runtime.main >"$LOG_FILE" 2>&1 </dev/null &
        echo $! >"$PID_FILE"
    fi

    local deadline=$((SECONDS + WAIT_SECONDS))
    while ((SECONDS < deadline)); do
        if s3_healthy; then
            log "S3 ready at http://127.0.0.1:$PORT (pid $(cat "$PID_FILE"))"
            return 0
        fi
        # Alive, not yet "ours" by its command line: nohup and env may not have exec'd into
        # Python yet on a busy machine, so only a process that is gone counts as exited.
        if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
            log "LocalStack exited during start-up; last lines of $LOG_FILE:"
            tail -n 40 "$LOG_FILE" >&2 || true
            rm -f "$PID_FILE"
            return 1
        fi
        sleep 0.5
    done
    log "S3 not healthy after ${WAIT_SECONDS}s; last lines of $LOG_FILE:"
    tail -n 40 "$LOG_FILE" >&2 || true
    stop
    return 1
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        log "not running"
        rm -f "$PID_FILE"
        return 0
    fi
    kill -TERM "$pid"
    # LocalStack usually exits within 2-3 s, but its shutdown sometimes hangs (seen about one stop
    # in four); with persistence off there is nothing to lose, so it gets 10 s, then SIGKILL.
    local deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid still running 10s after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 5))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.2
        done
    fi
    rm -f "$PID_FILE"
    log "stopped (pid $pid)"
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) running_pid >/dev/null && s3_healthy ;;
    install) install ;;
    *)
        echo "usage: $0 [start|stop|status|install]" >&2
        exit 2
        ;;
esac
