# One replica: the runtime and a model directory, `reactor run` as the entrypoint.
#
#   docker build -t reactor-runtime --build-arg MODEL_DIR=examples/demo .
#   docker run --network host reactor-runtime            # media needs host networking or TURN
#
# Media is WebRTC over UDP on ports aiortc picks at random (it cannot pin them), so a
# container reaches remote viewers only with host networking (`--network host`,
# Kubernetes `hostNetwork: true`) or through a TURN server (`--ice-servers`).
FROM python:3.11-slim

ARG MODEL_DIR=examples/demo
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    RAY_USAGE_STATS_ENABLED=0

WORKDIR /opt/reactor
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[fleet]"

RUN useradd --create-home --uid 10001 reactor
COPY --chown=reactor:reactor ${MODEL_DIR} /model
USER reactor

EXPOSE 8080
# /ready: 200 once the model is loaded and the replica is not draining (busy included).
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/ready', timeout=2)"]
# SIGTERM drains: no new session, the live one runs up to --drain-timeout, then exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["reactor", "run", "/model", "--host", "0.0.0.0", "--port", "8080"]
CMD ["--drain-timeout", "60"]
