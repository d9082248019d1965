# syntax=docker/dockerfile:1
# Build stage: compile wheels (pyahocorasick has a C core) so the final
# image needs no compiler.
FROM python:3.12-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir --upgrade pip==25.3
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY rules ./rules
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MONITOR_CONFIG=/config/config.yaml \
    MONITOR_STATE=/data/monitor.db \
    MONITOR_RULES=/rules
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin monitor \
    && mkdir -p /data /config /rules && chown monitor /data
# Shipped rules; mount your own folder over /rules to edit them.
COPY rules /rules
COPY config.example.yaml /config/config.yaml
VOLUME ["/data"]
WORKDIR /data
USER monitor
# The monitor installs its own SIGTERM/SIGINT handlers, so it stops cleanly as PID 1.
# The health check asks the monitor itself (slim images have no curl): it
# reads the state file and fails when the loop has not polled for too long.
HEALTHCHECK --interval=1m --timeout=10s --start-period=2m --retries=3 \
    CMD ["monitor", "status", "--health"]
ENTRYPOINT ["monitor"]
CMD ["run"]
