# syntax=docker/dockerfile:1
# Stage 1: production dependencies only (tsx runs the TypeScript sources; no compile step).
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

# Stage 2: the runtime image, as an unprivileged user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY gateway ./gateway
COPY adapters ./adapters
COPY openapi ./openapi
COPY simulator ./simulator
USER node
EXPOSE 8080
# The YAML camera file goes here: docker run -v ./camgate.yaml:/config/camgate.yaml -e CAMGATE_CONFIG=/config/camgate.yaml
VOLUME ["/config"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--import", "tsx", "gateway/main.ts"]
