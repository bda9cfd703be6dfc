# syntax=docker/dockerfile:1
# One image for all four see-me processes: they share packages/ and node_modules,
# and run TypeScript through tsx, so the Deployment's args choose the entry point
# (services/<name>/src/main.ts, or scripts/migrate.ts for migrations).
# Base image pinned by tag; pin by digest in your registry mirror for production.

FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY . .
# Full install (dev deps included) because `npm run generate` needs buf and prisma.
RUN npm ci --no-audit --no-fund \
 && npm run generate \
 && npm prune --omit=dev --no-audit --no-fund \
 && npm cache clean --force

FROM node:24.21.0-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# Files stay owned by root: the app user can read but never modify its own code.
COPY --from=build /app/package.json /app/package-lock.json /app/tsconfig.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/packages ./packages
COPY --from=build /app/services ./services
COPY --from=build /app/prisma ./prisma
COPY --from=build /app/scripts ./scripts
# Numeric UID (the image's "node" user) so Kubernetes can verify runAsNonRoot.
USER 1000:1000
EXPOSE 8080 50051 50052 50053
ENTRYPOINT ["node", "--import", "tsx"]
CMD ["services/gateway/src/main.ts"]
