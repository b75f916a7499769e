# modelgate: multi-stage build on the official Node 20 image.
#   docker build -t modelgate .
#   docker run --read-only --tmpfs /tmp --user 1000 --cap-drop ALL --security-opt no-new-privileges \
#     -v modelgate-data:/data -p 8080:8080 -e MODELGATE_ADMIN_TOKEN=... modelgate

FROM node:20-bookworm-slim AS build
# better-sqlite3 compiles from source (no prebuilt binary is downloaded): a compiler for this stage only.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# onnxruntime-node's install script would fetch CUDA libraries; package.json's allowScripts denies
# it on npm 11, the variable on older npm.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts \
 && npm rebuild better-sqlite3 \
 && npm cache clean --force
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY ui ./ui
COPY scripts/build-cli.mjs scripts/build-ui.mjs ./scripts/
# Then production dependencies only, and onnxruntime's binaries for this platform only (the package
# ships macOS and Windows ones too: about 250 MB).
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/better-sqlite3/build/Release/obj* node_modules/better-sqlite3/deps node_modules/better-sqlite3/src \
 && find node_modules/onnxruntime-node/bin/napi-v6 -mindepth 2 -maxdepth 2 ! -path "*/linux/$(node -p process.arch)" -exec rm -rf {} + \
 && npm cache clean --force

FROM node:20-bookworm-slim
ARG VERSION=0.2.0-dev
LABEL org.opencontainers.image.title="modelgate" \
      org.opencontainers.image.description="Self-hosted serving and rollout gateway for tabular decision models (ONNX)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/modelgate/modelgate"
# HOME on the writable /tmp: with a read-only root, onnxruntime could not keep its telemetry id.
# No HOST: unset, the server binds every address, IPv6 as well as IPv4 where the container has IPv6.
ENV NODE_ENV=production \
    HOME=/tmp \
    MODELGATE_DATA_DIR=/data \
    PORT=8080
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# `modelgate` on the PATH for `docker exec … modelgate register …`; /data owned by the runtime user.
RUN ln -s /app/dist/bin/modelgate.js /usr/local/bin/modelgate \
 && mkdir -p /data \
 && chown 1000:1000 /data
USER 1000
VOLUME ["/data"]
EXPOSE 8080
# node is PID 1 and handles SIGTERM itself: readiness fails, in-flight requests finish, the audit
# log is written, exit 0 (serve's shutdown; SHUTDOWN_GRACE_MS bounds it).
ENTRYPOINT ["node", "/app/dist/bin/modelgate.js"]
CMD ["serve"]
