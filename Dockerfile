# Multi-stage build of the three daemons and the operator's tool.
# Build stage: the Swift toolchain image plus the C libraries' -dev packages.
FROM swift:6.1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config librdkafka-dev libcurl4-openssl-dev libsystemd-dev libzstd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
RUN swift build -c release --static-swift-stdlib \
 && mkdir -p /out && cp .build/release/ingestd .build/release/trendd .build/release/sinkd .build/release/hashtrend /out/

# Runtime stage: slim Debian with only the shared libraries the binaries link.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends librdkafka1 libcurl4 libsystemd0 libzstd1 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
COPY etc/hashtrend/ /etc/hashtrend/
RUN mkdir -p /var/lib/hashtrend && chown 65532:65532 /var/lib/hashtrend
USER 65532:65532
WORKDIR /var/lib/hashtrend
