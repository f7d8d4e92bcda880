# One image for the API and the dashboard (docker-compose.yml runs it twice).
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip NEXT_TELEMETRY_DISABLED=1 CHECKPOINT_DISABLE=1
COPY . .
RUN npm ci && npm run build
ENV HOST=0.0.0.0 PORT=4000 WEB_PORT=3000 QUIVER_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 4000 3000
CMD ["node", "apps/api/bin/quiver.js", "serve"]
