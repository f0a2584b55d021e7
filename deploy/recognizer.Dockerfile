# syntax=docker/dockerfile:1
# The image of every recognizer, one task per build: the build arguments come from the task's entry
# in tasks.toml (compose passes them: docker-compose.yml, written by `make deploy-files`). By hand,
# from the repository root, e.g. for the digit service:
#   docker build -f deploy/recognizer.Dockerfile -t recognition/digit-service \
#       --build-arg SERVICE_DIR=digit-service --build-arg PACKAGE=digit_service \
#       --build-arg ENV_PREFIX=DIGIT_ --build-arg PORT=8001 .
# CPU by default; GPU with --build-arg 'TENSORFLOW=tensorflow[and-cuda]==2.21.0' and a -gpu tag
# (docker-compose.gpu.yml does that). The GPU build keeps the slim Python base: CUDA and cuDNN come
# as NVIDIA's pip wheels with tensorflow[and-cuda], only the driver comes from the host (NVIDIA
# Container Toolkit). BASE_IMAGE is used by both stages because the venv is copied as is and needs
# the same Python.
ARG BASE_IMAGE=python:3.11.14-slim-bookworm

FROM ${BASE_IMAGE} AS builder
# The task (tasks.toml): its folder, Python package, settings prefix and port. No defaults: a build
# that forgot one fails here (the runtime stage copies from this one), not with an image of the
# wrong service.
ARG SERVICE_DIR
ARG PACKAGE
ARG ENV_PREFIX
ARG PORT
# Empty: tensorflow-cpu, as common[inference] pins it. Otherwise a pip requirement that replaces it.
ARG TENSORFLOW=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN if [ -z "$SERVICE_DIR" ] || [ -z "$PACKAGE" ] || [ -z "$ENV_PREFIX" ] || [ -z "$PORT" ]; then \
        echo "build with --build-arg SERVICE_DIR=... PACKAGE=... ENV_PREFIX=... PORT=... (tasks.toml)" >&2; \
        exit 1; \
    fi \
    && python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements/constraints.txt requirements/constraints.txt
COPY common/ common/
COPY ${SERVICE_DIR}/pyproject.toml ${SERVICE_DIR}/
COPY ${SERVICE_DIR}/${PACKAGE}/ ${SERVICE_DIR}/${PACKAGE}/
# No [train] extra: plotting and progress bars are for training, not serving.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install -c requirements/constraints.txt ./common "./${SERVICE_DIR}"
# tensorflow-cpu and tensorflow install the same `tensorflow` package, so swap rather than add.
RUN --mount=type=cache,target=/root/.cache/pip \
    if [ -n "$TENSORFLOW" ]; then \
        pip uninstall -y tensorflow-cpu && pip install -c requirements/constraints.txt "$TENSORFLOW"; \
    fi
# TensorFlow's C++ headers (~290 MB) are for building custom ops, never used when serving.
RUN rm -rf "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/tensorflow/include"

FROM ${BASE_IMAGE} AS runtime
RUN useradd --create-home --uid 10001 --user-group app
ARG SERVICE_DIR
ARG PACKAGE
# The service's settings prefix (DIGIT_, ...) and port, from tasks.toml.
ARG ENV_PREFIX
ARG PORT
# The models folder inside SERVICE_DIR that is baked into the image.
ARG MODELS=models
# <ENV_PREFIX>MODEL_DIR: models are baked in here; mount a volume over it (or point it elsewhere)
# to serve other models without rebuilding. KERAS_HOME: writable even with a read-only root
# filesystem. UVICORN_APP, _HOST, _PORT: uvicorn's own variables, so that CMD and HEALTHCHECK can
# stay in exec form (no shell as PID 1) while the app and port come from the build arguments.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    KERAS_HOME=/tmp/.keras \
    ${ENV_PREFIX}MODEL_DIR=/app/models \
    UVICORN_APP=${PACKAGE}.main:app \
    UVICORN_HOST=0.0.0.0 \
    UVICORN_PORT=${PORT}
COPY --from=builder /opt/venv /opt/venv
COPY ${SERVICE_DIR}/${MODELS}/ /app/models/
WORKDIR /app
USER 10001
EXPOSE ${PORT}
# Liveness only: /readyz (models loaded) is what compose's depends_on and Kubernetes wait for.
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['UVICORN_PORT'], timeout=2)"]
CMD ["uvicorn", "--no-access-log"]
