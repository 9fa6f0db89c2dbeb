# carplb: one image with both binaries (carplb-agent, carplb-controller).
#
#   scripts/build-image     builds it offline with podman (bases bootstrapped from Debian packages)
#
# Stage 1 compiles on Debian 12 with exactly the packages of `scripts/install-deps --build`.
# Stage 2 is debian:bookworm-slim plus only the shared libraries the two binaries link
# (computed with ldd + dpkg -S in stage 1, so the list never goes stale).
#
# Users: the image's default user is 65532 (non-root), which is what the controller runs as.
# The agent runs as uid 0 with every capability dropped except NET_ADMIN and NET_RAW (see the
# DaemonSet in charts/carplb); it is never privileged.
ARG CARPLB_VERSION=0.0.0

FROM docker.io/library/debian:bookworm AS build
ARG JOBS=2
ENV DEBIAN_FRONTEND=noninteractive
# Same build packages as a developer machine; this layer is cached until install-deps changes.
COPY scripts/install-deps /src/scripts/install-deps
RUN /src/scripts/install-deps --build && rm -rf /var/lib/apt/lists/*

COPY . /src
# Only the two binaries are built (no tests, benchmarks or fuzzers); same warnings as CI.
# With `scripts/build-image --prebuilt DIR` the binaries compiled on the host (same Debian 12
# toolchain and packages) are packaged instead of compiled a second time.
# A binary whose sources are not in the tree yet is skipped here, and scripts/build-image's
# checks then report it missing.
RUN set -eu; \
    mkdir -p /out/bin; \
    if [ -x /src/.prebuilt/carplb-agent ] && [ -x /src/.prebuilt/carplb-controller ]; then \
      echo "using prebuilt binaries (scripts/build-image --prebuilt)"; \
      install -m 0755 /src/.prebuilt/carplb-agent /src/.prebuilt/carplb-controller /out/bin/; \
    else \
      cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ >/dev/null; \
      targets=$(ninja -C /build -t targets all | sed -n 's/^\(carplb-agent\|carplb-controller\): .*/\1/p' | sort -u); \
      if [ -z "$targets" ]; then echo "Dockerfile: neither carplb-agent nor carplb-controller is a build target" >&2; exit 1; fi; \
      echo "building: $targets"; \
      cmake --build /build -j"$JOBS" --target $targets; \
      for t in $targets; do \
        f=$(find /build -type f -name "$t" -perm -u+x | head -n1); \
        install -m 0755 "$f" /out/bin/"$t"; \
      done; \
    fi; \
    strip --strip-unneeded /out/bin/*; \
    ldd /out/bin/* | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u > /out/libs.txt; \
    while read -r lib; do \
      dpkg -S "$lib" 2>/dev/null || dpkg -S "$(realpath "$lib")" 2>/dev/null \
        || dpkg -S "/usr$lib" 2>/dev/null || { echo "Dockerfile: no package owns $lib" >&2; exit 1; }; \
    done < /out/libs.txt | cut -d: -f1 | sort -u > /out/runtime-packages.txt; \
    echo "runtime packages:"; cat /out/runtime-packages.txt

FROM docker.io/library/debian:bookworm-slim
ARG CARPLB_VERSION
LABEL org.opencontainers.image.title="carplb" \
      org.opencontainers.image.description="CARP virtual-IP load balancer for bare-metal Kubernetes (carplb-agent, carplb-controller)" \
      org.opencontainers.image.version="${CARPLB_VERSION}" \
      org.opencontainers.image.licenses="BSD-2-Clause"
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=build /out/runtime-packages.txt /usr/share/carplb/runtime-packages.txt
RUN apt-get update -qq \
 && xargs -a /usr/share/carplb/runtime-packages.txt apt-get install -y -qq --no-install-recommends >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && echo 'carplb:x:65532:65532:carplb controller:/nonexistent:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'carplb:x:65532:' >> /etc/group
COPY --from=build /out/bin/ /usr/local/bin/
USER 65532:65532
CMD ["carplb-controller", "--help"]
