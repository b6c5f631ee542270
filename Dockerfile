# The project's container image: the autoscaler daemon on Debian 12, built from this repository
# (docs/install.md; the Kubernetes manifests of deploy/kubernetes run it):
#   docker build -t registry.example.com/autoscaler:0.1.0 .      (or podman build)
# from the repository's root; .dockerignore sends only what the build needs.
FROM debian:12-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake pkg-config \
        libcurl4-openssl-dev libjansson-dev libyaml-dev libmicrohttpd-dev libhiredis-dev \
        libpq-dev libssl-dev libexpat1-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY src ./src
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAS_TESTS=OFF -DBUILD_TESTING=OFF \
 && cmake --build build -j "$(nproc)" --target autoscaler \
 && strip build/autoscaler \
 && build/autoscaler --version

FROM debian:12-slim
# Exactly the packages of the shared libraries the binary links (libcurl with OpenSSL, jansson,
# libyaml, libmicrohttpd, hiredis, libpq, libcrypto, expat; libc is in the base image), checked
# by tests/integration/test_container.py; CA certificates for https, time zones for schedules.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcurl4 libjansson4 libyaml-0-2 \
        libmicrohttpd12 libhiredis0.14 libpq5 libssl3 libexpat1 ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 autoscaler \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin autoscaler \
 && mkdir -p /var/lib/autoscaler /etc/autoscaler \
 && chown 65532:65532 /var/lib/autoscaler
COPY --from=build /src/build/autoscaler /usr/local/bin/autoscaler
USER 65532:65532
# the HTTP server (/metrics, /api/v1, the dashboard) when the configuration opens it there
EXPOSE 9711
WORKDIR /var/lib/autoscaler
ENTRYPOINT ["/usr/local/bin/autoscaler"]
CMD ["run", "-c", "/etc/autoscaler/autoscaler.yaml"]
