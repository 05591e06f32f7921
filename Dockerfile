# The weft image as users build it where a registry is reachable:
#
#   docker build -t weft:local .        (or scripts/docker-image.sh, which picks this file then)
#
# Stage 1 compiles the release binary; stage 2 is Debian slim with ca-certificates and a non-root
# user. Without a registry scripts/docker-image.sh builds the same image from this machine's own
# packages with deploy/docker/Dockerfile.local.
#
# KEEP IN SYNC: everything from the runtime stage's first RUN to the end (user, data directory,
# ENV, EXPOSE, HEALTHCHECK, STOPSIGNAL, USER, WORKDIR, ENTRYPOINT, CMD) is repeated in
# deploy/docker/Dockerfile.local; tests/docker/test_compose.py checks that the two agree.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p weft \
 && install -m 0755 -s target/release/weft /weft

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# --- runtime (same in deploy/docker/Dockerfile.local) ---
RUN groupadd --gid 1000 weft \
 && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /var/lib/weaviate \
      --shell /usr/sbin/nologin weft \
 && mkdir -p /var/lib/weaviate \
 && chown 1000:1000 /var/lib/weaviate \
 && chmod 0750 /var/lib/weaviate
COPY deploy/docker/healthcheck.sh /usr/local/bin/weft-healthcheck
COPY --from=build /weft /bin/weft
ENV PERSISTENCE_DATA_PATH=/var/lib/weaviate
# REST, gRPC, Prometheus metrics (PROMETHEUS_MONITORING_PORT).
EXPOSE 8080 50051 2112
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 CMD ["/usr/local/bin/weft-healthcheck"]
# SIGTERM = orderly shutdown (in-flight requests finish, memtables flushed, LOCK removed). Docker
# sends SIGKILL after its stop timeout (10 s unless `docker stop -t`, `--stop-timeout` or Compose's
# `stop_grace_period` says otherwise); weft's --graceful-timeout is 15 s, so give it more.
STOPSIGNAL SIGTERM
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
WORKDIR /var/lib/weaviate
ENTRYPOINT ["/bin/weft"]
CMD ["--host", "0.0.0.0", "--port", "8080", "--scheme", "http"]
