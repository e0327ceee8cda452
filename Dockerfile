# syntax=docker/dockerfile:1
#
# media-ingest: one image, two production processes.
#   API (default):  docker run --env-file .env -p 3000:3000 media-ingest
#   worker:         docker run --env-file .env media-ingest node --enable-source-maps dist/worker/main.js
# docker-compose.yml runs both against Redis and MinIO. `npm start` (embedded Redis,
# everything in one process) is for one machine without containers and is not the
# image's job: the image has no redis-server.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: compile the TypeScript (npm run build = tsc -p tsconfig.build.json → dist/) --
# The API and worker run compiled JavaScript, not their sources through the tsx loader:
# compiled, each process needs about 35 MiB less RSS (measured idle: ~160 MiB under tsx,
# ~125 MiB compiled with source maps on), which is what keeps the API's peak RSS under
# 16 concurrent 256 MiB uploads within 200 MiB (bench upload-throughput). The output is
# not a second code base: CI type-checks these same sources (`npm run typecheck`), and
# tsc here fails the image build on a type error too. `npm ci` with dev dependencies,
# for typescript; the runtime stage gets production node_modules from `deps`.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json start.ts ./
COPY api ./api
COPY worker ./worker
COPY shared ./shared
COPY cli ./cli
# The web console (console/ → dist/console, served at /console): Preact bundled by esbuild.
COPY console ./console
RUN npm run build:console
RUN npm run build

# ---- deps: production node_modules only ---------------------------------------------
# Not built for $BUILDPLATFORM on purpose: sharp, esbuild and msgpackr install native
# binaries for the platform they are installed on, which must be the target's.
# Install scripts stay enabled: esbuild verifies its platform binary, and sharp's
# prebuilt libvips arrives as an optional dependency, so no compiler toolchain is
# needed. (tsx stays a production dependency: the `media-ingest` CLI and `npm start`
# run their TypeScript through it.)
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# ---- runtime ------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

# tini is PID 1. The kernel drops signals sent to PID 1 that it has no handler for, so
# with node as PID 1 a SIGTERM arriving before shared/shutdown.ts has installed its
# handler (while the modules are still loading) would be lost and the container killed
# at the end of the grace period. tini forwards SIGTERM/SIGINT to node, which then shuts down gracefully
# (in-flight requests and active jobs get SHUTDOWN_TIMEOUT_MS), and reaps zombies.
# (`docker run --init` / compose `init: true` would do the same; baking it in means no
# one has to remember.)
#
# libjemalloc2 replaces glibc's malloc for every process in the container (LD_PRELOAD
# below). sharp's documentation, "Linux memory allocator": glibc's allocator fragments
# memory badly under libvips' many threads doing many small allocations, so RSS of a
# long-running worker keeps growing; jemalloc returns memory to the OS. sharp detects
# jemalloc at run time and then uses one libvips thread per core instead of the single
# thread it falls back to under glibc. (MALLOC_ARENA_MAX=2 is the weaker alternative.)
# The symlink gives a path that is the same on amd64 and arm64.
#
# libheif-examples brings heif-convert with Debian's libheif, which decodes HEVC: the
# HEIC photos of every iPhone, which sharp's prebuilt libvips cannot decode (HEVC is
# left out for patent reasons). The worker renders those through it (worker/imaging/source.ts).
#
# ffmpeg (video poster frames, audio cover art, durations; QOI and JPEG XL), poppler-utils
# (PDF page 1 and page counts) and imagemagick (BMP, ICO, JPEG 2000, TGA, PSD, PCX, PNM,
# DDS, TIFF layouts sharp lacks) feed the decoder table (docs/media-types.md); each runs
# under a time and memory limit. LibreOffice for office-document previews is left out
# (~600 MB): build with --build-arg OFFICE=libreoffice-core to add it.
ARG OFFICE=""
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini libjemalloc2 libheif-examples ffmpeg poppler-utils imagemagick ${OFFICE} \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s "$(dpkg -L libjemalloc2 | grep '/libjemalloc\.so\.2$')" /usr/local/lib/libjemalloc.so.2 \
 && test -e /usr/local/lib/libjemalloc.so.2

ENV NODE_ENV=production \
    LD_PRELOAD=/usr/local/lib/libjemalloc.so.2

WORKDIR /app
# Dependencies first: that layer changes only with package-lock.json.
COPY --from=deps /app/node_modules ./node_modules
# The compiled API and worker, with source maps: they run with --enable-source-maps, so
# stack traces point into the .ts files (this costs ~10 MiB RSS per process; drop the
# flag from CMD / the compose commands to save it).
COPY --from=build /app/dist ./dist
# Sources stay owned by root: the service user can read them but not change them. (Stack
# traces name the .ts files; the CLI runs them through tsx.)
# .dockerignore keeps node_modules, data, tests and local .env files out.
COPY . .
# DATA_DIR defaults to ./data = /app/data; only the fs storage driver writes there
# (mount a volume at /app/data if you use it). The worker's scratch files go to /tmp.
RUN mkdir -p /app/data && chown node:node /app/data

# `node` (uid 1000) comes with the official Node image.
USER node

EXPOSE 3000

# Probes /readyz (Redis and storage answer) when this container runs the API; reports
# healthy otherwise, so a worker started from this image is not marked unhealthy for
# lacking an HTTP port (docker-compose.yml disables the check for workers outright).
# Uses node's fetch because the slim image has no curl, and 127.0.0.1 rather than
# localhost because localhost may resolve to ::1 while the API binds 0.0.0.0 (IPv4).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "if (!require('fs').readFileSync('/proc/1/cmdline', 'utf8').includes('api/main.js')) process.exit(0); fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/readyz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1));"]

ENTRYPOINT ["/usr/bin/tini", "--"]
# node itself, not `npm run` or `npx`: npm does not reliably pass SIGTERM on, and under
# tini node is then the direct child that receives it. --max-semi-space-size=8 (MiB) caps
# V8's young generation: the socket buffers of dead upload chunks are freed when it is
# collected, and at its default size (up to 16 MiB a semi-space) they held the API above
# 200 MiB resident under 16 concurrent uploads; 4 cost ~9 % more CPU (docs/BENCHMARKS.md,
# "Upload path"). Same command as `npm run api`.
CMD ["node", "--enable-source-maps", "--max-semi-space-size=8", "dist/api/main.js"]
