# Dockerfile: one image for every Duro program (duro-scheduler, duro,
# food-worker, bench-worker); docker-compose.yml and deploy/k8s pick the
# program with `command`. Configuration is by environment variables
# (docs/configuration.md). The ENTRYPOINT runs a command that names a
# program as is and hands anything else to `duro`, so
# `docker run duro workflow list` and `docker compose run --rm cli workflow
# start ...` work (deploy/docker-entrypoint.sh).
#
#   docker build -t duro .
#   docker compose up

# ---- Build stage: compilers and -dev packages ----
FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libhiredis-dev libuv1-dev libcjson-dev libmicrohttpd-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DDURO_TESTS=OFF \
      -DDURO_WERROR=OFF -DCMAKE_INSTALL_PREFIX=/opt/duro \
 && cmake --build /build -j"$(nproc)" \
      --target duro duro-scheduler food-worker bench-worker \
 && mkdir -p /opt/duro/bin \
 && cp /build/bin/duro /build/bin/duro-scheduler /build/bin/food-worker \
       /build/bin/bench-worker /opt/duro/bin/ \
 && strip /opt/duro/bin/*

# ---- Runtime stage: only the shared libraries the programs load ----
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libhiredis0.14 libuv1 libcjson1 libmicrohttpd12 libssl3 redis-tools \
      ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 duro \
 && useradd --system --uid 10001 --gid duro --home-dir /nonexistent \
      --shell /usr/sbin/nologin duro
COPY --from=build /opt/duro/bin/ /usr/local/bin/
# executable in git, and COPY keeps the mode
COPY deploy/docker-entrypoint.sh /usr/local/bin/duro-entrypoint
USER 10001:10001
ENV DURO_REDIS_URL=redis://redis:6379 \
    DURO_LOG_FORMAT=json
# Metrics and probes, when DURO_METRICS_ADDR=0.0.0.0:9464.
EXPOSE 9464
# Workers and schedulers: healthy while their /readyz answers 200 (Redis
# connected, loop running). `duro health` reads the port from
# DURO_METRICS_ADDR; without it (the CLI) the check fails, so a service
# that sets no metrics address disables it (docker-compose.yml's cli).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["duro", "health", "--timeout", "3s"]
ENTRYPOINT ["duro-entrypoint"]
CMD ["duro", "--help"]
