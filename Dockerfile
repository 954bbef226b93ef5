# syntax=docker/dockerfile:1
#
# Parley's image: one static binary (server, worker and operator tools) with
# the web app embedded, on a distroless base, run as an unprivileged user.
#
#     docker build -t parley .
#     docker compose -f deploy/compose.yaml up
#
# make test checks this file without a container engine: it runs the build
# stage's go build command below and checks that the binary is static
# (deploy/deploy_test.go), and validates deploy/compose.yaml.

# The web app: built only when its source is in the tree, into what static/
# embeds (the Makefile's web target, when there is one, does the same).
FROM node:20-bookworm-slim AS web
WORKDIR /src
COPY . .
RUN if [ -f web/package.json ]; then npm --prefix web ci --no-audit --no-fund && npm --prefix web run build; fi

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY --from=web /src .
ARG VERSION=dev
# The build command: deploy/deploy_test.go runs this line as written.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION}" -o /out/parley ./cmd/parley

# distroless/static: CA certificates, tzdata and a passwd with the nonroot
# user (65532), and nothing else: no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/parley /usr/local/bin/parley
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/parley"]
CMD ["serve"]
