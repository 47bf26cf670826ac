# MLflow tracking server, pinned to exactly the MLflow version the clients use (requirements.lock),
# with the PostgreSQL and S3 drivers.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm
FROM ${PYTHON_IMAGE}
ARG MLFLOW_VERSION=3.17.2
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install "mlflow==${MLFLOW_VERSION}" "psycopg2-binary==2.9.13" "boto3==1.44.8" \
    && useradd --create-home --uid 10001 mlflow
USER 10001
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=10 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4)"]
ENTRYPOINT ["mlflow", "server"]
