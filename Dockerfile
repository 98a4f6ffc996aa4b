# syntax=docker/dockerfile:1
# The demo app (binary rocket_keycloak_demo) in a small Debian image. Used by docker-compose.yml.
# The runtime image has bash (compose's health check asks /ready through /dev/tcp), and
# ca-certificates: the system trust store, which `tls_roots = "system"` reads.

# Exact versions, so a rebuild builds what was tested (bump them together, on purpose).
FROM rust:1.95.0-bookworm AS builder
WORKDIR /src
COPY . .
# The cache mounts keep the crate registry and the target folder between builds; the binary is
# copied out of the cached target folder in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && cp target/release/rocket_keycloak_demo /usr/local/bin/rocket_keycloak_demo

FROM debian:12.12-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=builder /usr/local/bin/rocket_keycloak_demo /usr/local/bin/rocket_keycloak_demo
# Rocket reads Rocket.toml and the templates/ folder relative to the working directory.
COPY Rocket.toml ./
COPY templates ./templates
USER app
ENV ROCKET_ADDRESS=0.0.0.0 \
    ROCKET_PORT=8000
EXPOSE 8000
CMD ["rocket_keycloak_demo"]
