# syntax=docker/dockerfile:1
# Multi-stage build: a wheel is built in the first stage; the runtime image holds only the
# installed wheel and runs as an unprivileged user.

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
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl \
    && groupadd --system --gid 65532 callsift \
    && useradd --system --uid 65532 --gid callsift --home-dir /data --create-home callsift
USER 65532:65532
WORKDIR /data
EXPOSE 8000
ENTRYPOINT ["callsift"]
CMD ["run"]
