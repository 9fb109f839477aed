# syntax=docker/dockerfile:1
#
# One image for every gmessenger service; the command picks the entry:
#   node dist/gateway/main.js | dist/shards/main.js | dist/relay/main.js | dist/presence/main.js
#   node dist/scripts/migrate.js   (one-shot: opens the configured store, which applies migrations)
#
# Node 20 on Debian bookworm: the uWebSockets.js binary is built for glibc and
# Node's ABI 115, so neither Alpine (musl) nor another Node major loads it.
ARG NODE_IMAGE=node:20-bookworm-slim
# The npm that wrote package-lock.json; it honours package.json "allowScripts",
# so `npm ci` runs only the approved install scripts (argon2, better-sqlite3, ...).
ARG NPM_VERSION=11.19.1

FROM ${NODE_IMAGE} AS toolchain
ARG NPM_VERSION
# Native addons (better-sqlite3, argon2) fall back to node-gyp when no prebuilt
# binary matches; give them a compiler here so the runtime image needs none.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && npm install -g --no-audit --no-fund "npm@${NPM_VERSION}"
WORKDIR /app
COPY package.json package-lock.json ./

# Production dependencies only, compiled against this exact Node.
FROM toolchain AS deps
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Full install (TypeScript, vite, ...) and the build.
FROM toolchain AS build
RUN npm ci --no-audit --no-fund
COPY . .
# `npm run build` compiles the services (tsc, fails on type errors) and the web client (web/dist).
RUN npm run build \
 && rm -rf dist/test dist/bench \
 && find dist -name '*.test.js' -delete -o -name '*.test.js.map' -delete

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    METRICS_HOST=0.0.0.0
WORKDIR /app
COPY --chown=node:node package.json ./
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/web/dist ./web/dist
# The official image's unprivileged user (uid 1000); nothing here needs root.
USER node
EXPOSE 8080 7100 7200 7300 9100 9200 9300 9400
# /readyz on the ops port: set METRICS_PORT for every container (docker-compose.yml does); no curl here.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["node", "dist/scripts/healthcheck.js"]
CMD ["node", "dist/gateway/main.js"]
