# syntax=docker/dockerfile:1
# Multi-stage build: a wheel is built in the first stage; the runtime image holds only the
# installed wheel, with every dependency at the version pinned in requirements.lock, and runs as
# an unprivileged user. /data holds the SQLite database (when no CALLSIFT_DATABASE_URL is given)
# and the generated keys: mount a volume there (docker-compose.yml does).

FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir build==1.2.2
COPY pyproject.toml README.md ./
COPY service ./service
COPY subscriptions ./subscriptions
COPY classifiers ./classifiers
COPY emulator ./emulator
RUN python -m build --wheel --outdir /dist

FROM python:3.11-slim AS runtime
LABEL org.opencontainers.image.title="callsift" \
      org.opencontainers.image.description="RingCentral call events in, trustworthy call outcomes out"
# Bytecode is compiled at install time; logs are not buffered.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CALLSIFT_HOST=0.0.0.0 \
    CALLSIFT_PORT=8000 \
    CALLSIFT_DATABASE_URL=sqlite+aiosqlite:////data/callsift.db
COPY --from=build /dist/*.whl /tmp/
COPY requirements.lock /tmp/
RUN pip install --no-cache-dir -c /tmp/requirements.lock /tmp/*.whl \
    && rm /tmp/*.whl /tmp/requirements.lock \
    && groupadd --system --gid 65532 callsift \
    && useradd --system --uid 65532 --gid callsift --home-dir /data --create-home callsift
USER 65532:65532
WORKDIR /data
EXPOSE 8000
VOLUME ["/data"]
# Healthy once the database answers (GET /readyz); the same command works for any CALLSIFT_PORT.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('CALLSIFT_PORT', '8000') + '/readyz', timeout=4)"]
ENTRYPOINT ["callsift"]
CMD ["run"]
