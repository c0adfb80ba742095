# syntax=docker/dockerfile:1
# The project's Dapr runtime: daprd, placement and scheduler of the pinned release
# (scripts/versions.env) with the fixes of dapr/runtime/patches and only the components
# dapr/runtime/components registers, built by scripts/build-dapr.sh exactly as the local
# stack builds it (static, CGO_ENABLED=0). Every flavour runs this image, tagged
# DAPRD_IMAGE:DAPRD_IMAGE_TAG of scripts/versions.env (the Dapr version + the patch level):
#
#   docker build -f docker/daprd.Dockerfile -t ghcr.io/ecommerce-dapr/ecommerce-daprd:1.18.2-ecommerce.2 .
#
# Like the daprio/* images, the binaries sit at /daprd, /placement and /scheduler.
ARG GO_IMAGE=golang:1.26.8-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

# ---- build: the same script as the local stack, into /out -------------------------------
FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY scripts/build-dapr.sh scripts/versions.env scripts/
COPY dapr/runtime/ dapr/runtime/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 bash scripts/build-dapr.sh /out \
 && /out/daprd --version

# ---- runtime: three static binaries on distroless, non-root ------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
LABEL org.opencontainers.image.title="ecommerce-daprd" \
      org.opencontainers.image.description="daprd, placement and scheduler of the pinned Dapr release with the ecommerce-dapr patches" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/daprd /out/placement /out/scheduler /
USER 65532:65532
CMD ["/daprd", "--version"]
