# syntax=docker/dockerfile:1
# crmgw image: a static binary on distroless, running as nonroot (65532).
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#                --build-arg COMMIT=$(git rev-parse --short=12 HEAD) -t crmgw .
# The build command is the Makefile's `make build` (a test keeps them equal);
# docs/deploy.md describes the image.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/crmgw ./cmd/crmgw

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/crmgw /usr/local/bin/crmgw
COPY --from=build /src/policies /etc/crmgw/policies
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/crmgw", "serve", "-c", "/etc/crmgw/crmgw.yaml"]
