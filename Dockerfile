# golive in a small image: the binary (packs and schemas are embedded in it)
# plus the packs as files, for `--pack /packs/<name>` and for reading.
#
#   docker build -t golive .
#   docker run --rm golive load --rate 20/s --duration 10s      # against the built-in fake
#   docker run --rm -e GOLIVE_KEY golive load --pack removit \
#       --target https://staging.example.com --confirm-target staging.example.com --rate 20/s --duration 60s
#
# Build stage: the full toolchain; dependencies are cached in their own layer.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY scenarios ./scenarios
COPY schemas ./schemas
COPY examples ./examples
COPY tests ./tests
COPY benches ./benches
RUN cargo build --release --locked --bin golive && strip target/release/golive

# Final stage: CA roots for live HTTPS targets, the binary, the packs.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 golive
COPY --from=build /src/target/release/golive /usr/local/bin/golive
COPY scenarios /packs
USER golive
WORKDIR /work
ENTRYPOINT ["golive"]
CMD ["--help"]
