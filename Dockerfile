# syntax=docker/dockerfile:1
# The image of one service: its package, the shared one, and only its own dependencies (its
# extra in pyproject.toml). Build from the repository root, naming the service's package:
#   docker build --build-arg SERVICE=auth_service --tag order-platform/auth .
# compose.yaml builds the three; deploy/k8s runs them.

FROM python:3.11-slim AS build
# gateway, auth_service or order_service.
ARG SERVICE
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN case "$SERVICE" in \
        gateway) extra=gateway ;; \
        auth_service) extra=auth ;; \
        order_service) extra=orders ;; \
        *) echo "SERVICE is gateway, auth_service or order_service, not '$SERVICE'" >&2; exit 1 ;; \
    esac \
    && uv sync --locked --no-dev --no-default-groups --extra "$extra"
COPY shared/ shared/
COPY ${SERVICE}/ ${SERVICE}/
# The app's own code compiled too: its files are read-only to the user it runs as.
RUN .venv/bin/python -m compileall -q shared "$SERVICE"

FROM python:3.11-slim
ARG SERVICE
# /keys (auth only): where compose's one-shot key generator writes, a volume owned by the user.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app app \
    && if [ "$SERVICE" = auth_service ]; then mkdir /keys && chown app /keys; fi
WORKDIR /app
COPY --from=build /app /app
# Every address, whichever service this is: each reads only the variables of its own prefix.
# Each listens on its own port (gateway 8000, auth 8001, orders 8002: *_PORT).
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SERVICE=${SERVICE} \
    GATEWAY_HOST=0.0.0.0 \
    AUTH_HOST=0.0.0.0 \
    ORDERS_HOST=0.0.0.0
# Numeric, so that Kubernetes can check runAsNonRoot against it.
USER 10001:10001
# exec: the server is the container's first process, and gets its stop signal.
CMD ["sh", "-c", "exec python -m \"$SERVICE\" serve"]
