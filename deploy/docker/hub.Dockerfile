# Central Hub — the hub image: one static binary on an empty base, run as a non-root user.
#
# Build from the repository root (the go.work workspace is the context):
#   make images
#   docker build -f deploy/docker/hub.Dockerfile -t centralhub/hub:$VERSION --build-arg VERSION=$VERSION .
#
# The go build line below is the Makefile's build target with CGO off. CI reads its flags from
# this file, builds the binary with them, checks that it is static and starts it
# (hub/internal/e2e/deploy_test.go); the image itself was not built on the development machine,
# which has no Docker engine.

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
# Module downloads first, so a source change does not fetch them again. The workspace needs every
# module's go.mod; the hub does not import the agent, so the agent's source stays out.
COPY go.work go.work.sum ./
COPY pkg/go.mod pkg/go.sum pkg/
COPY agent/go.mod agent/go.sum agent/
COPY hub/go.mod hub/go.sum hub/
RUN go mod download
COPY pkg/ pkg/
COPY hub/ hub/
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/centralhub/centralhub/hub/internal/app.Version=${VERSION}" -o /out/hub ./hub/cmd/hub
# The data directory (embedded store, gossip keyring and snapshot), owned by the runtime user.
RUN mkdir -p /out/data

FROM scratch
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="centralhub-hub" \
      org.opencontainers.image.description="Central Hub: service registry, health rollup, alerts and dashboard" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/centralhub/centralhub"
# Roots for HTTPS to Alertmanager, webhooks and other hubs; time zones are compiled into the hub.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build --chown=65532:65532 /out/data /var/lib/centralhub
COPY --from=build /out/hub /hub
USER 65532:65532
WORKDIR /var/lib/centralhub
ENV HUB_DATA_DIR=/var/lib/centralhub
# 7000: API, dashboard and /metrics. 7946: gossip, TCP and UDP.
EXPOSE 7000/tcp 7946/tcp 7946/udp
# `hub healthcheck` GETs /health on loopback at HUB_LISTEN's port (7000 by default): the image
# has no shell and no curl. With HUB_TLS_CERT_FILE set it uses https and, on that loopback URL,
# does not verify the certificate (the probe sends nothing secret).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["/hub", "healthcheck"]
ENTRYPOINT ["/hub"]
CMD ["serve"]
