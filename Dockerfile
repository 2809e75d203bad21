# syntax=docker/dockerfile:1
# One image for both processes: `node dist/src/api/main.js` (default) or `node dist/src/worker/main.js`.

# ---- build: dev dependencies and the TypeScript compiler live only here.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY scripts ./scripts
# The chaos run's entry in scripts/ compiles against its harness library.
COPY test/harness ./test/harness
RUN npm run build && npm prune --omit=dev

# ---- runtime: production dependencies and compiled JavaScript, run as the unprivileged `node` user.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
# API, worker HTTP (health and metrics), Temporal SDK metrics.
EXPOSE 5000 5001 9464
CMD ["node", "dist/src/api/main.js"]
