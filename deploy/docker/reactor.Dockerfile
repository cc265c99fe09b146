# The build Pod image: osbs-reactor-pod (the reactor over the Kubernetes API) and osbs-reactor.
# Build from the workspace root:
#   docker build -f deploy/docker/reactor.Dockerfile -t osbs-reactor:dev .
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p osbs-kube-pod --bin osbs-reactor-pod \
 && cargo build --release --locked -p osbs-reactor --bin osbs-reactor

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/osbs-reactor-pod /usr/local/bin/osbs-reactor-pod
COPY --from=build /src/target/release/osbs-reactor /usr/local/bin/osbs-reactor
WORKDIR /workspace
ENTRYPOINT ["osbs-reactor-pod"]
