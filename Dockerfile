# contact-relay: one container, non-root, data on a volume.
# Current patched CPython (3.13 line): the email package there refuses trailing
# newlines in headers (CVE-2024-6923) on top of the relay's own intake checks.
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY relay ./relay
COPY config ./config
RUN pip install -c constraints.txt . \
    && useradd --system --uid 10001 --no-create-home --home-dir /app relay \
    && mkdir /data && chown relay:relay /data

# Listen on all interfaces inside the container; keep the outbox on the volume.
ENV RELAY_CONFIG=/app/config/relay.toml \
    RELAY_SERVER__HOST=0.0.0.0 \
    RELAY_STORAGE__DATA_DIR=/data \
    RELAY_SCREENING__LEXICON_DIR=/app/config/screening

USER relay
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
# SIGTERM: uvicorn stops accepting, finishes requests in flight (8 s), the worker
# hands back its claim; Docker's SIGKILL at 10 s loses nothing already acknowledged.
STOPSIGNAL SIGTERM
CMD ["contact-relay", "serve"]
