# Dockerfile — sluice as a container appliance (issue 6).
#
#   docker build -t sluice .
#   docker run -p 9092:9092 -v sluice-data:/var/lib/sluice sluice
#   docker run --rm --network host sluice sluice-perf --help
#
# Two stages: `build` compiles the release build (cmake --preset release, no
# sanitizers, no unit tests) with Debian's -dev packages; the runtime stage is
# bookworm-slim with the three programs and only their shared libraries.
#
#   /usr/local/bin/sluiced, sluice, sluice-perf   the broker, the CLI, the load generator
#   /etc/sluice/server.properties                 defaults (docker/server.properties)
#   /var/lib/sluice                               the volume; log.dirs=/var/lib/sluice/data
#   user sluice, uid:gid 10001:10001              owns /var/lib/sluice
#
# Settings: SLUICE_<NAME> environment variables (read by sluiced itself, see
# `docker run --rm sluice sluiced --help`) or a mounted server.properties.
# The broker uses io_uring, which Docker 25+ blocks in its default seccomp
# profile: run with `--security-opt seccomp=unconfined` (or a profile that
# allows io_uring_setup, io_uring_enter and io_uring_register) there.
# The compiler flags include -msse4.2 -mpclmul: the image is for x86-64.

FROM debian:bookworm-slim AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gcc libc6-dev make cmake pkg-config python3 \
        liburing-dev libjemalloc-dev liblz4-dev libsnappy-dev libzstd-dev zlib1g-dev \
        libssl-dev librdkafka-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only the sources (.dockerignore): a change to tests/ or docs rebuilds nothing.
COPY CMakeLists.txt CMakePresets.json ./
COPY proto proto
COPY io io
COPY storage storage
COPY core core
COPY cli cli
COPY perf perf
RUN cmake --preset release -DSLUICE_TESTS=OFF \
    && cmake --build --preset release -j"$(nproc)" --target sluiced sluice sluice-perf \
    && mkdir -p /out \
    && cp build/release/core/sluiced build/release/cli/sluice build/release/perf/sluice-perf /out/ \
    && strip --strip-debug /out/*

FROM debian:bookworm-slim
# The runtime half of the build stage's -dev packages (librdkafka1 brings
# libssl3 and libsasl2-2 for the CLI and sluice-perf).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        liburing2 libjemalloc2 liblz4-1 libsnappy1v5 libzstd1 zlib1g libssl3 librdkafka1 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt/* /var/log/dpkg.log \
    && groupadd --system --gid 10001 sluice \
    && useradd --system --uid 10001 --gid sluice --home-dir /var/lib/sluice \
        --no-create-home --shell /usr/sbin/nologin sluice \
    && mkdir -p /var/lib/sluice/data /etc/sluice \
    && chown -R sluice:sluice /var/lib/sluice
COPY --from=build /out/ /usr/local/bin/
COPY docker/server.properties /etc/sluice/server.properties
COPY docker/entrypoint.sh /usr/local/bin/sluice-entrypoint
COPY docker/healthcheck.sh /usr/local/bin/sluice-healthcheck

USER sluice:sluice
WORKDIR /var/lib/sluice
VOLUME ["/var/lib/sluice"]
# The Kafka listener; sluiced has no other port (no metrics or admin endpoint).
EXPOSE 9092
# A Metadata request through the Kafka protocol (docker/healthcheck.sh).
HEALTHCHECK --interval=10s --timeout=10s --start-period=20s --retries=3 \
    CMD ["sluice-healthcheck"]
# sluiced drains connections, finishes in-flight writes, closes the logs and
# writes the clean-shutdown marker on SIGTERM: well within `docker stop`'s 10 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["sluice-entrypoint"]
CMD ["sluiced", "/etc/sluice/server.properties"]
