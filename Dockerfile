# syntax=docker/dockerfile:1
# Images for the payment pipeline, built from one multi-stage file:
#   docker build --target runtime  -t payment-pipeline:0.1.0 .           # api, producer, consumer
#   docker build --target operator -t payment-pipeline-operator:0.1.0 .  # the operator
# The code is TypeScript run directly by Node 24 (type stripping): no build step, the image holds the
# sources. The operator chooses the component with the container command
# (`node runtime/<component>/main.ts`).

ARG NODE_IMAGE=node:24-bookworm-slim

# Production dependencies of one npm workspace (`runtime` or `operator`) and of the root (the npm
# package `node`): each image ships only the packages its component imports. The lock file pins
# every version; npm needs every workspace's package.json to read it.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
COPY package.json package-lock.json ./
COPY runtime/package.json ./runtime/
COPY operator/package.json ./operator/

FROM manifests AS deps-runtime
RUN npm ci --omit=dev --workspace=runtime --include-workspace-root --no-audit --no-fund --loglevel=error \
  && npm cache clean --force

FROM manifests AS deps-operator
RUN npm ci --omit=dev --workspace=operator --include-workspace-root --no-audit --no-fund --loglevel=error \
  && npm cache clean --force

FROM ${NODE_IMAGE} AS base
ENV NODE_ENV=production NODE_OPTIONS=--enable-source-maps
WORKDIR /app
COPY package.json ./
COPY runtime ./runtime
# Non-root; the root filesystem can be mounted read-only (nothing is written at run time).
USER 1000:1000

FROM base AS runtime
COPY --from=deps-runtime /app/node_modules ./node_modules
EXPOSE 8080 9464
CMD ["node", "runtime/api/main.ts"]

FROM base AS operator
COPY --from=deps-operator /app/node_modules ./node_modules
COPY operator ./operator
EXPOSE 9470
CMD ["node", "operator/main.ts"]
