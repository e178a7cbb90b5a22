# Newsdesk as a container: `newsdesk run` as a user without privileges, installed from the
# lock file (exact versions, hashes checked). See compose.yaml and README "Running it for real".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-deps --no-build-isolation .

# The config, the seeds and the database live in volumes (compose.yaml); the shipped
# config/ is the default, with its paths relative to it (../data, ../seeds).
COPY config ./config
COPY seeds ./seeds
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin newsdesk \
    && mkdir -p /app/data \
    && chown 10001 /app/data
USER 10001
VOLUME ["/app/data"]

# /healthz of the HTTP listener (http: {listen: "127.0.0.1:9300"} in the config).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["newsdesk", "--config", "/app/config/newsdesk.yaml", "healthcheck"]

# SIGTERM stops it within 10 s, the send in flight finished and recorded.
STOPSIGNAL SIGTERM
ENTRYPOINT ["newsdesk", "--config", "/app/config/newsdesk.yaml"]
CMD ["run"]
