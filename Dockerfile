# Vigie in one image: `vigie start` runs the whole pipeline; the distributed deployment (docker-compose.yml) runs the
# same image. TypeScript runs through tsx: no build step.
FROM node:24-slim

ENV NODE_ENV=production \
    VIGIE_DATA_DIR=/data
WORKDIR /app

# Dependencies first, from the lock file, so a source change does not reinstall them. tsx is a runtime dependency.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error && npm cache clean --force

COPY bin ./bin
COPY cli ./cli
COPY core ./core
COPY ingest ./ingest
COPY processors ./processors
COPY alerting ./alerting
COPY sinks ./sinks
COPY simulators ./simulators
COPY services ./services

# PGlite's data and the outbox live in /data; mount a volume to keep them.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node

# 1883: MQTT (Aedes); 8080: HTTP API and web console.
EXPOSE 1883 8080
CMD ["node", "bin/vigie.mjs", "start"]
