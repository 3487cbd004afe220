# Multi-stage build of a static binary (no cgo: SQLite is the pure-Go modernc
# driver). The build steps are the ones CI runs: go build with CGO_ENABLED=0.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ethox . \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ethox /usr/local/bin/ethox
# The default SQLite database lives in the working directory: mount a volume here.
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
# Every interface of the container (the server's own default is 127.0.0.1, which
# the published port could not reach); publish the port on the host with care.
ENV HOST=0.0.0.0 PORT=8080
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/ethox"]
CMD ["serve"]
