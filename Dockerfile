# syntax=docker/dockerfile:1
#
# The stock-analysis app (src/main.ts) as an image: `docker build -t market-cache .`
# Three stages: `build` compiles with every dependency, `deps` installs the run-time dependencies
# only, `runtime` holds the compiled app, those dependencies and tini, and runs as `node`.
# Checked without Docker by test/deploy/container.test.ts.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: install from the lock file (dev dependencies included) and compile to dist/ ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: compiling needs none (esbuild's, for tsx, and a telemetry script are skipped).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY config ./config
COPY src ./src
RUN npm run build

# ---- deps: production dependencies only, from the same lock file ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# package.json describes the published library, so packages only the app needs at run time sit
# in devDependencies; they are promoted here (in this stage's copy only, the lock file is
# untouched and `npm ci` still installs its exact versions; a name already in dependencies is
# left as it is). `pg`: the PostgreSQL source, imported by the app whatever DATABASE_URL says.
ARG APP_RUNTIME_PACKAGES="pg"
RUN for name in $APP_RUNTIME_PACKAGES; do \
      range="$(npm pkg get "devDependencies.$name" | tr -d '"')"; \
      if [ -n "$range" ] && [ "$range" != "{}" ]; then \
        npm pkg set "dependencies.$name=$range" && npm pkg delete "devDependencies.$name" || exit 1; \
      fi; \
    done \
    && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && npm cache clean --force

# ---- runtime: compiled app + production node_modules, unprivileged, tini as PID 1 ----
FROM ${NODE_IMAGE} AS runtime
# tini is PID 1: it forwards SIGTERM to node and reaps zombies, so `docker stop` starts the
# app's graceful drain instead of a kill after the grace period.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only to the app: it writes nothing under /app.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000
# Readiness, not liveness: 503 while draining on SIGTERM. Node 20 has fetch; the image has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/ready').then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/main.js"]
