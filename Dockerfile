# syntax=docker/dockerfile:1
# One image for all four see-me processes: they share packages/ and node_modules and
# run compiled JavaScript (each workspace's dist/, made by `npm run build`) with plain
# node, so the Deployment's args choose the entry point (services/<name>/dist/main.js,
# or scripts/dist/migrate.js for migrations). No TypeScript sources in the image.
# Base image pinned by tag; pin by digest in your registry mirror for production.

FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY . .
# Full install (dev deps included) because the build needs buf, prisma and tsc; then
# only production dependencies and compiled output stay.
RUN npm ci --no-audit --no-fund \
 && npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && npm cache clean --force \
 && find packages services -mindepth 2 -maxdepth 2 \( -name src -o -name test -o -name "tsconfig*.json" \) -exec rm -rf {} + \
 && find packages services scripts -name "*.tsbuildinfo" -delete

FROM node:24.21.0-bookworm-slim
ENV NODE_ENV=production
# jemalloc, whose background thread returns freed pages: under glibc malloc a service keeps 15-30%
# more RSS after one burst of large requests (docs/reliability.md, "Memory after the
# fuzz run"). Linked to one path for every architecture; SEEME_ALLOCATOR has no say
# here: unset LD_PRELOAD in the pod spec to run on glibc malloc.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libjemalloc2 \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s "$(find /usr/lib -name libjemalloc.so.2 | head -n1)" /usr/local/lib/libjemalloc.so.2
ENV LD_PRELOAD=/usr/local/lib/libjemalloc.so.2 MALLOC_CONF=background_thread:true
WORKDIR /app
# Files stay owned by root: the app user can read but never modify its own code.
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/packages ./packages
COPY --from=build /app/services ./services
COPY --from=build /app/prisma ./prisma
COPY --from=build /app/scripts/dist ./scripts/dist
# Numeric UID (the image's "node" user) so Kubernetes can verify runAsNonRoot.
USER 1000:1000
EXPOSE 8080 50051 50052 50053
ENTRYPOINT ["node"]
CMD ["services/gateway/dist/main.js"]
