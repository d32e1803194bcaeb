# Central Hub — the agent image: one static binary on an empty base, run as a non-root user.
#
# Build from the repository root (the go.work workspace is the context):
#   make images
#   docker build -f deploy/docker/agent.Dockerfile -t centralhub/agent:$VERSION --build-arg VERSION=$VERSION .
#
# Mount the configuration at /etc/centralhub/agent.yaml (or pass --config). The image has no
# shell: `exec` checks need an image built on this one with the programs they run. CI reads the
# go build flags from this file, builds the binary with them, checks that it is static and starts
# it (hub/internal/e2e/deploy_test.go); the image itself was not built on the development
# machine, which has no Docker engine.

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.work go.work.sum ./
COPY pkg/go.mod pkg/go.sum pkg/
COPY agent/go.mod agent/go.sum agent/
COPY hub/go.mod hub/go.sum hub/
RUN go mod download
COPY pkg/ pkg/
COPY agent/ agent/
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/centralhub/centralhub/agent/internal/app.Version=${VERSION}" -o /out/agent ./agent/cmd/agent
# Where gossip.keyring_file can keep rotated keys, owned by the runtime user.
RUN mkdir -p /out/data

FROM scratch
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="centralhub-agent" \
      org.opencontainers.image.description="Central Hub agent: health checks beside a service, reported to the hub" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/centralhub/centralhub"
# Roots for https checks, tls probes and an https hub.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build --chown=65532:65532 /out/data /var/lib/centralhub
COPY --from=build /out/agent /agent
USER 65532:65532
WORKDIR /var/lib/centralhub
# 9101: metrics_listen (GET /metrics only, no token). 7946: gossip, TCP and UDP. The local API
# (listen, 127.0.0.1:7001) stays on the pod's or container's loopback and is not exposed.
EXPOSE 9101/tcp 7946/tcp 7946/udp
# `agent --health-check` GETs /health on the local API named by the configuration's listen.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/agent", "--health-check", "--config", "/etc/centralhub/agent.yaml"]
ENTRYPOINT ["/agent"]
CMD ["--config", "/etc/centralhub/agent.yaml"]
