# syntax=docker/dockerfile:1
# lingpai container image: a static binary on a distroless base (CA certificates, a non-root user,
# no shell). Build: docker build -t lingpai .

FROM golang:1.26-alpine AS build
WORKDIR /src
# Dependencies first, so editing source does not re-download modules.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Stamped into "lingpai version": docker build --build-arg VERSION=v1.2.0 --build-arg COMMIT=$(git rev-parse HEAD) ...
ARG VERSION=dev
ARG COMMIT=dev
ARG DATE=dev
# CGO_ENABLED=0: the SQLite driver is pure Go, so the binary is static and needs no libc.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w \
      -X github.com/lingpai/lingpai/cli.version=${VERSION} \
      -X github.com/lingpai/lingpai/cli.commit=${COMMIT} \
      -X github.com/lingpai/lingpai/cli.date=${DATE}" \
    -o /out/lingpai ./cmd/lingpai \
  && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/lingpai /usr/local/bin/lingpai
# The embedded SQLite database lives in a declared volume owned by uid 65532, so it outlives the
# container (docker run -v lingpai-data:/var/lib/lingpai ...). With MySQL (database.dsn_file or
# LINGPAI_DATABASE_DSN) the volume stays empty.
COPY --from=build --chown=65532:65532 /out/data /var/lib/lingpai
VOLUME ["/var/lib/lingpai"]
USER nonroot:nonroot
WORKDIR /home/nonroot
ENV LINGPAI_SERVER_ADDR=0.0.0.0:8080 \
    LINGPAI_DATABASE_DSN=/var/lib/lingpai/lingpai.db
# Listening on every interface: set LINGPAI_SERVER_ISSUER to the public URL, or serve warns that
# the default loopback issuer is unusable from other hosts.
EXPOSE 8080 9090
# No curl in the image: the binary probes itself (GET /healthz on server.addr).
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/lingpai", "healthcheck"]
# serve creates the schema in an empty database and refuses an older one: run "lingpai migrate"
# (or pass --migrate) after an upgrade. Admin commands: docker compose exec lingpai lingpai ...
ENTRYPOINT ["/usr/local/bin/lingpai", "serve"]
