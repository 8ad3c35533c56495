# contact-relay: one container, non-root, data on a volume.
# Current patched CPython (3.13 line): the email package there refuses trailing
# newlines in headers (CVE-2024-6923) on top of the relay's own intake checks.
# scripts/container-test builds and checks this image (buildah/podman or docker).
ARG PYTHON_IMAGE=python:3.13-slim

# Stage 1: build the wheel with a pinned build backend (no isolated build env, so
# constraints.txt decides setuptools too). Nothing of this stage reaches the image.
FROM ${PYTHON_IMAGE} AS build
# Only where the network needs it: a CA bundle mounted for RUN steps (never kept).
ARG PIP_CERT=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY relay ./relay
COPY config ./config
RUN pip install --quiet -c constraints.txt setuptools \
    && pip wheel --quiet --no-build-isolation --no-deps --wheel-dir /wheels .

# Stage 2: the runtime image: the wheel and its pinned dependencies, nothing else.
FROM ${PYTHON_IMAGE}
ARG PIP_CERT=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 relay \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin relay \
    && install -d -m 0700 -o relay -g relay /data
COPY constraints.txt /tmp/constraints.txt
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --quiet -c /tmp/constraints.txt /wheels/contact_relay-*.whl \
    && rm /tmp/constraints.txt
COPY config/relay.toml /etc/contact-relay/relay.toml

# Listen on all interfaces inside the container; keep the outbox on the volume.
ENV RELAY_CONFIG=/etc/contact-relay/relay.toml \
    RELAY_SERVER__HOST=0.0.0.0 \
    RELAY_SERVER__PORT=8000 \
    RELAY_STORAGE__DATA_DIR=/data

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
# Asks the port the relay was told to listen on, so RELAY_SERVER__PORT moves both.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('RELAY_SERVER__PORT', '8000'); sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=2).status != 200)"]
# SIGTERM: uvicorn stops accepting, finishes requests in flight (8 s), the worker
# hands back its claim; Docker's SIGKILL at 10 s loses nothing already acknowledged.
STOPSIGNAL SIGTERM
CMD ["contact-relay", "serve"]
