# syntax=docker/dockerfile:1
# Courier's image: built with the dev dependencies (TypeScript), run with the production ones
# only, on Node 24, as the unprivileged `node` user, with `courier` as the entrypoint
# (`docker run IMAGE run`, `... topics`, `... replay --destination crm --from ...`).
# The configuration is read from /etc/courier/courier.yaml (mount it; secrets come in as
# environment variables that the file references as ${NAME}).

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` devDependency would fetch a second Node binary; the image has one.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY schemas ./schemas
COPY src ./src
RUN ./node_modules/.bin/tsc -p tsconfig.build.json && node scripts/copy-assets.mjs

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    COURIER_CONFIG=/etc/courier/courier.yaml
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY schemas ./schemas
RUN ln -s /app/dist/cli/main.js /usr/local/bin/courier && mkdir -p /etc/courier
USER node
# Metrics, /healthz and /readyz (config `observability.port`; bind `observability.host: 0.0.0.0`).
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["courier"]
CMD ["run"]
