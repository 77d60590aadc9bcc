# syntax=docker/dockerfile:1
# Build stage: install all dependencies and compile TypeScript.
FROM node:26-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# Runtime stage: production dependencies and compiled code only, non-root.
FROM node:26-trixie-slim
ENV NODE_ENV=production SFBRIDGE_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY proto ./proto
COPY config/bridge.yaml /config/bridge.yaml
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# /healthz is liveness (200 while the process serves; a failed route is restarted by the bridge,
# not by restarting the container): /readyz and /status say which routes run (health on :8080).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "/app/bin/sfbridge.js"]
CMD ["run", "-c", "/config/bridge.yaml"]
