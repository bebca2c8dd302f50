# The provider image. Node 24 runs the TypeScript sources directly (type stripping); no build step.
# (Not built in this repository's CI: the build machines have no container engine.)
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# The `node` dev dependency is only for machines with an older system Node; the image already has Node 24.
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-slim
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
# Development-only parts stay out of the image: the local environment (`make run` without a cluster) and the test kit.
RUN rm -rf src/localenv src/testkit
COPY deploy/crds ./deploy/crds
USER 65532:65532
ENTRYPOINT ["node", "src/cli/main.ts"]
CMD ["run", "--settings", "/config/settings.yaml"]
