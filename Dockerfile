# syntax=docker/dockerfile:1

# ---- build: a static binary (no cgo, so it runs on distroless/static)
FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that this layer is cached until go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/boxoffice .

# ---- run: no shell, no package manager, runs as uid 65532 (nonroot)
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/boxoffice /boxoffice
USER nonroot:nonroot
EXPOSE 8080
# distroless has no curl: the binary GETs http://127.0.0.1:8080/healthz itself.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
	CMD ["/boxoffice", "healthcheck"]
ENTRYPOINT ["/boxoffice"]
CMD ["serve"]
