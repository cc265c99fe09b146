# The build Pod image: osbs-reactor-pod (the reactor over the Kubernetes API) and osbs-reactor.
# Build from the workspace root:
#   docker build -f deploy/docker/reactor.Dockerfile -t osbs-reactor:dev .
# Base images are pinned by version tag (the root .dockerignore keeps target/ and .git/ out
# of the context). To pin digests too, append the ones
# `docker buildx imagetools inspect rust:1.89.0-bookworm` (and debian:12.11-slim) print:
# `FROM rust:1.89.0-bookworm@sha256:… AS build`.
FROM rust:1.89.0-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p osbs-kube-pod --bin osbs-reactor-pod \
 && cargo build --release --locked -p osbs-reactor --bin osbs-reactor

FROM debian:12.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/osbs-reactor-pod /usr/local/bin/osbs-reactor-pod
COPY --from=build /src/target/release/osbs-reactor /usr/local/bin/osbs-reactor
WORKDIR /workspace
ENTRYPOINT ["osbs-reactor-pod"]
