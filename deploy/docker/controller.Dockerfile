# The osbs-controller image. Build from the workspace root:
#   docker build -f deploy/docker/controller.Dockerfile -t osbs-controller:dev .
# Base images are pinned by version tag (the root .dockerignore keeps target/ and .git/ out
# of the context). To pin digests too, append the ones
# `docker buildx imagetools inspect rust:1.89.0-bookworm` (and debian:12.11-slim) print:
# `FROM rust:1.89.0-bookworm@sha256:… AS build`.
FROM rust:1.89.0-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p osbs-controller --bin osbs-controller

FROM debian:12.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/osbs-controller /usr/local/bin/osbs-controller
USER 65532:65532
# /healthz, /readyz and /metrics (--probe-addr).
EXPOSE 8081
ENTRYPOINT ["osbs-controller"]
CMD ["run"]
