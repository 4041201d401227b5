# ghl-import in a small runtime image: a non-root user, state (run journal, history, leases,
# tokens) and reports on volumes, JSON log lines. Build: docker build -t ghl-import .
# Run a pipeline: docker run --rm -e GHL_TOKEN -v ghl-state:/var/lib/ghl-import \
#   -v "$PWD/pipelines:/pipelines:ro" ghl-import run /pipelines/quickstart.yaml
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/ghl-import

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /var/lib/ghl-import ghl
COPY --from=build /src/target/release/ghl-import /usr/local/bin/ghl-import
USER 10001
# State between runs (--state-dir) and the report folders (the working directory's out/).
VOLUME ["/var/lib/ghl-import", "/reports"]
WORKDIR /reports
ENV GHL_IMPORT_LOG_FORMAT=json
ENTRYPOINT ["/usr/local/bin/ghl-import"]
CMD ["--help"]
