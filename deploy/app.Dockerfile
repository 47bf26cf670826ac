# fingercount application image: `serving` (no PyTorch: exported models only) and `training`.
# Build from the repository root: docker build -f deploy/app.Dockerfile --target serving .
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS base
# OpenCV needs libGL and GLib at import time, even headless; MediaPipe (the teacher) EGL and GLES.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 libegl1 libgles2 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 fingercount
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true YOLO_OFFLINE=true YOLO_AUTOINSTALL=false
WORKDIR /app

# Dependencies before the source, installed from a stub of the package (an empty module and README):
# a change to src/ or the README rebuilds only the small last layers, and the multi-GB dependency
# layers stay cached (and stored once) on the build host. pip's cache is a build cache mount: kept
# between builds on the host, never in an image.
FROM base AS deps
COPY pyproject.toml requirements.lock ./
# The `label` extra (MediaPipe, no PyTorch): the Collect page's teacher runs in the server.
RUN --mount=type=cache,target=/root/.cache/pip \
    mkdir -p src/fingercount && touch src/fingercount/__init__.py README.md \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --constraint requirements.lock ".[label]" \
    && rm -rf src build README.md
# GPU serving (deploy/docker-compose.gpu.yml): ONNX Runtime's CUDA build instead of the CPU one.
ARG ONNXRUNTIME_PACKAGE=""
RUN --mount=type=cache,target=/root/.cache/pip \
    if [ -n "$ONNXRUNTIME_PACKAGE" ]; then \
      /opt/venv/bin/pip uninstall --yes onnxruntime && /opt/venv/bin/pip install "$ONNXRUNTIME_PACKAGE"; \
    fi

# PyTorch, Ultralytics and CUDA (~6 GB): the training image only.
FROM deps AS deps-training
RUN --mount=type=cache,target=/root/.cache/pip \
    mkdir -p src/fingercount && touch src/fingercount/__init__.py README.md \
    && /opt/venv/bin/pip install --constraint requirements.lock ".[train,label]" \
    && rm -rf src build README.md

# On the dependency stage itself: copying the venv into a fresh stage took ~50 s per source change.
FROM deps AS serving
COPY README.md ./
COPY src ./src
RUN /opt/venv/bin/pip install --no-deps --force-reinstall .
ENV PATH=/opt/venv/bin:$PATH MODEL_CACHE_DIR=/home/fingercount/.cache/fingercount/models ENGINE=auto
RUN mkdir -p /app/data/collections && chown -R fingercount /app/data
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
CMD ["fingercount", "serve", "--host", "0.0.0.0", "--port", "8000"]

# Straight from the stage that installed PyTorch: copying its ~8 GB environment into a fresh stage
# would store it twice on the build host (and needs as much again in temporary space).
FROM deps-training AS training
COPY README.md ./
COPY src ./src
RUN /opt/venv/bin/pip install --no-deps --force-reinstall .
ENV PATH=/opt/venv/bin:$PATH
COPY configs ./configs
RUN mkdir -p /app/data /app/experiments && chown -R fingercount /app
USER 10001
CMD ["fingercount", "train", "--training-config", "configs/training_config.yaml", "--evaluate"]
