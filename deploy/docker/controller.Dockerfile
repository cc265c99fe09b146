# The osbs-controller image. Build from the workspace root:
#   docker build -f deploy/docker/controller.Dockerfile -t osbs-controller:dev .
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p osbs-controller --bin osbs-controller

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/osbs-controller /usr/local/bin/osbs-controller
USER 65532:65532
ENTRYPOINT ["osbs-controller"]
CMD ["run"]
