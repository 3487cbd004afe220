# Multi-stage build of a static binary (no cgo: SQLite is the pure-Go modernc
# driver). The build steps are the ones CI runs: go build with CGO_ENABLED=0.
FROM golang:1.26-bookworm AS build
# FRONTEND_DIST: a built single-page app in the build context, e.g. the
# prototype's front end (`npm run build`, then its dist/ copied to
# frontend-dist/), served at / from /app/frontend (FRONTEND_DIR). Empty (the
# default): no front end, GraphiQL at / as before.
ARG FRONTEND_DIST=
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ethox . \
 && mkdir -p /out/data /out/frontend
RUN if [ -n "$FRONTEND_DIST" ]; then \
      if [ ! -f "$FRONTEND_DIST/index.html" ]; then \
        echo "FRONTEND_DIST=$FRONTEND_DIST: no index.html there in the build context" >&2; exit 1; \
      fi; \
      cp -R "$FRONTEND_DIST/." /out/frontend/; \
    fi

FROM gcr.io/distroless/static-debian12:nonroot
ARG FRONTEND_DIST=
COPY --from=build /out/ethox /usr/local/bin/ethox
# The front end, when the image is built with one (empty otherwise).
COPY --from=build /out/frontend /app/frontend
# The default SQLite database lives in the working directory: mount a volume here.
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
# Every interface of the container (the server's own default is 127.0.0.1, which
# the published port could not reach); publish the port on the host with care.
ENV HOST=0.0.0.0 PORT=8080
# Set only when built with FRONTEND_DIST; `-e FRONTEND_DIR=…` serves a mounted build.
ENV FRONTEND_DIR=${FRONTEND_DIST:+/app/frontend}
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/ethox"]
CMD ["serve"]
