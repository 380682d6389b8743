# voxelgate's container image (Debian 12). Two ways to build it:
#   from source:           docker build -t voxelgate .                (compiles; ~20 min on 2 cores)
#   from `make deb`'s package:  docker build --target prebuilt -t voxelgate .
# Run: docker run -p 8080:8080 -p 11112:11112 -v vg-data:/var/lib/voxelgate -v vg-keys:/etc/voxelgate/keys voxelgate
# (compose.yaml: the single-machine setup; compose.cluster.yaml: nodes over PostgreSQL and S3).
# BASE: any Debian 12 image (tests/package builds one with debootstrap where no registry is reachable).
ARG BASE=debian:bookworm-slim

# --- build: the package, compiled from this source tree -------------------------------------
FROM ${BASE} AS build
COPY scripts/bootstrap /src/scripts/bootstrap
RUN VOXELGATE_BOOTSTRAP=build /src/scripts/bootstrap && rm -rf /var/lib/apt/lists/*
COPY . /src
WORKDIR /src
RUN rm -rf build web/node_modules web/dist \
 && (cd web && npm ci --no-audit --no-fund && npm run build) \
 && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build build --target voxelgate \
 && (cd build && cpack -G DEB) && mkdir -p /out && cp build/voxelgate_*_amd64.deb /out/

# --- the runtime, shared by both ways --------------------------------------------------------
FROM ${BASE} AS runtime-base
COPY packaging/container/install-package.sh packaging/container/entrypoint.sh /usr/local/lib/voxelgate/
WORKDIR /var/lib/voxelgate
EXPOSE 8080 11112
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/lib/voxelgate/entrypoint.sh"]
CMD ["serve", "--config", "/etc/voxelgate/voxelgate.toml"]
# Each target below: the package, installed as root; then the service user and the volumes
# (declared after the install, which makes their folders).

# From a package `make deb` built (build/voxelgate_*_amd64.deb in the context).
FROM runtime-base AS prebuilt
COPY build/voxelgate_*_amd64.deb /tmp/pkg/
RUN /usr/local/lib/voxelgate/install-package.sh
USER voxelgate
VOLUME ["/var/lib/voxelgate", "/etc/voxelgate/keys"]

# From source (the default target).
FROM runtime-base AS runtime
COPY --from=build /out/ /tmp/pkg/
RUN /usr/local/lib/voxelgate/install-package.sh
USER voxelgate
VOLUME ["/var/lib/voxelgate", "/etc/voxelgate/keys"]
