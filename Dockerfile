# carplb: one image with both programs (carplb-agent [+ carplb-agent-cluster], carplb-controller).
#
#   scripts/build-image     builds it offline with podman (bases bootstrapped from Debian packages)
#
# Stage 1 compiles both binaries from source on Debian 12 with exactly the packages of
# `scripts/install-deps --build`, with the `default` CMake preset (RelWithDebInfo, -Werror, ccache).
# Stage 2 is debian:bookworm-slim plus only the shared libraries the two binaries link
# (computed with ldd + dpkg -S in stage 1, so the list never goes stale).
#
# Compiler cache: scripts/build-image mounts the checkout's ccache directory (build/ccache, filled
# by the host's preset builds) at /ccache for the compile step (`podman build --volume`) and
# passes the host's source and build directories as CARPLB_SRC_DIR/CARPLB_BUILD_DIR, so the
# compile commands are byte-identical to the host's and every unchanged object is a cache hit.
# Without the volume (plain `podman build .`) it is an ordinary full compile.
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

# The source goes to the same absolute path as on the host and the build tree to the host build
# directory's path (ccache hashes the working directory and the -I paths: same paths, same keys).
ARG CARPLB_SRC_DIR=/src
ARG CARPLB_BUILD_DIR=/src/build/default
ARG CARPLB_CCACHE_DIR=/ccache
# Changing it forces the compile step to run again although the sources did not change
# (scripts/build-image --recompile); it is not part of the compile itself.
ARG CARPLB_RECOMPILE=
COPY . ${CARPLB_SRC_DIR}
WORKDIR ${CARPLB_SRC_DIR}
# Only the binaries are built (no tests, benchmarks or fuzzers), same preset and warnings as CI:
# carplb-controller, carplb-agent and, where the tree has it, carplb-agent-cluster (the agent's
# cluster mode, exec'd by carplb-agent --controller from the same directory).
# The build tree is deleted afterwards (the binaries are in /out; a ~500 MB layer less to commit).
# The ccache statistics of this compile alone (a stats log, the cache's own counters are shared
# with the host) are printed as `carplb-ccache: hits=H misses=M ...` and the versions of the
# compilers and -dev packages (whose headers the objects depend on) as `carplb-pkg: NAME VERSION`,
# for scripts/build-image to compare with the host.
RUN set -eu; \
    echo "recompile: ${CARPLB_RECOMPILE:-no}"; \
    export CCACHE_STATSLOG=/tmp/ccache-stats.log; rm -f "$CCACHE_STATSLOG"; \
    echo "compiler: $(dpkg-query -W -f='${Package} ${Version}' g++-12), ccache $(ccache --version | sed -n '1s/.* //p')"; \
    dpkg-query -W -f='carplb-pkg: ${Package} ${Version}\n' | grep -E '^carplb-pkg: ([^ ]+-dev|(gcc|g\+\+|cpp|clang)-[0-9]+) ' || true; \
    t0=$(date +%s); \
    cmake --preset default -B "$CARPLB_BUILD_DIR" -DCARPLB_CCACHE_DIR="$CARPLB_CCACHE_DIR" >/dev/null; \
    t1=$(date +%s); \
    targets=$(ninja -C "$CARPLB_BUILD_DIR" -t targets all \
      | sed -n 's/^\(carplb-agent\|carplb-agent-cluster\|carplb-controller\): .*/\1/p' | sort -u | tr '\n' ' '); \
    echo "building: $targets"; \
    cmake --build "$CARPLB_BUILD_DIR" -j"$JOBS" --target $targets; \
    t2=$(date +%s); \
    hits=0; misses=0; \
    if [ -s "$CCACHE_STATSLOG" ]; then \
      hits=$(grep -cE '^(direct|preprocessed)_cache_hit$' "$CCACHE_STATSLOG" || true); \
      misses=$(grep -cx 'cache_miss' "$CCACHE_STATSLOG" || true); \
      ccache --show-log-stats; \
    fi; \
    echo "carplb-ccache: hits=$hits misses=$misses configure_s=$((t1 - t0)) compile_s=$((t2 - t1)) dir=$CARPLB_CCACHE_DIR"; \
    mkdir -p /out/bin; \
    for t in carplb-agent carplb-controller; do \
      case " $targets " in *" $t "*) ;; *) echo "Dockerfile: $t is not a build target" >&2; exit 1 ;; esac; \
    done; \
    for t in $targets; do \
      f=$(find "$CARPLB_BUILD_DIR" -type f -name "$t" -perm -u+x | head -n1); \
      [ -n "$f" ] || { echo "Dockerfile: $t was not built under $CARPLB_BUILD_DIR" >&2; exit 1; }; \
      install -m 0755 "$f" /out/bin/"$t"; \
    done; \
    rm -rf "$CARPLB_BUILD_DIR"; \
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
