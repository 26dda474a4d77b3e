# syntax=docker/dockerfile:1
# lingpai container image: a static binary on a distroless base (CA certificates, a non-root user,
# no shell). Build: docker build -t lingpai .

FROM golang:1.26-alpine AS build
WORKDIR /src
# Dependencies first, so editing source does not re-download modules.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO_ENABLED=0: the SQLite driver is pure Go, so the binary is static and needs no libc.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/lingpai ./cmd/lingpai

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/lingpai /usr/local/bin/lingpai
# uid 65532; its home is writable, which the embedded SQLite default needs when no MySQL is set.
USER nonroot:nonroot
WORKDIR /home/nonroot
ENV LINGPAI_SERVER_ADDR=0.0.0.0:8080
EXPOSE 8080 9090
# No curl in the image: the binary probes itself (GET /healthz on server.addr).
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/lingpai", "healthcheck"]
# serve migrates the schema before listening. Admin commands: docker compose exec lingpai lingpai ...
ENTRYPOINT ["/usr/local/bin/lingpai", "serve"]
