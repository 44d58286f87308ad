# twampy container image: TWAMP / TWAMP-Light / STAMP sender and responder.
#
#   docker build -t twampy .
#   docker run --rm -p 20001:20001/udp -p 8000:8000 twampy responder --metrics
#
# Two stages: the build stage compiles the TypeScript and the native socket addon
# (native/twampy_native.c) with the full toolchain; the runtime stage carries only the
# compiled JavaScript, the production dependencies and the addon, runs as the unprivileged `node`
# user and writes nothing, so it runs with a read-only root filesystem.
# Works with the classic builder (no BuildKit-only syntax) so `docker-compose build` 1.29 builds it.

ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
# The C toolchain builds the native addon (scripts/build-native.mjs; python3 and make serve
# `node-gyp rebuild` with binding.gyp).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# npm ci runs the root package's own install step (the native addon build, which never fails
# npm ci) and its `prepare` script (tsc), so the sources must be in place before it runs. The
# image must carry the addon (DSCP, received TTL, kernel timestamps), so it is rebuilt strictly.
COPY . .
RUN npm ci --no-audit --no-fund \
 && if [ -f scripts/build-native.mjs ]; then node scripts/build-native.mjs --strict; fi \
 && npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && mkdir -p /out/dist \
 && cp -r package.json node_modules /out/ \
 && cp -r dist/src /out/dist/src \
 && if [ -f dist/package.json ]; then cp dist/package.json /out/dist/; fi \
 && if [ -d build/Release ]; then mkdir -p /out/build && cp -r build/Release /out/build/; fi \
 && printf '#!/bin/sh\nexec node /app/dist/src/cli/main.js "$@"\n' > /out/twampy \
 && chmod 0755 /out/twampy

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="twampy" \
      org.opencontainers.image.description="TWAMP (RFC 5357), TWAMP-Light and STAMP (RFC 8762) sender and responder with OpenTelemetry metrics" \
      org.opencontainers.image.licenses="BSD-3-Clause"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /out/ /app/
RUN mv /app/twampy /usr/local/bin/twampy
# 20001/udp: TWAMP-Light test port (nokia/twampy's default); 8000/tcp: /metrics, /healthz, /readyz.
EXPOSE 20001/udp 8000/tcp
# The official image's unprivileged user (uid 1000). Ports below 1024 (TWAMP's 862) need
# CAP_NET_BIND_SERVICE; the default ports do not.
USER node
ENTRYPOINT ["twampy"]
CMD ["--help"]
