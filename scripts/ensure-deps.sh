#!/usr/bin/env bash
# The system programs media-ingest and its tests use, as one table: a check, the Debian
# packages that provide it, and what needs it. Run before `npm test` (npm's pretest
# hooks) and by .ci/run. As root with apt-get, installs what is missing; otherwise
# prints the exact command and what will skip until then, and exits 0 (the suites that
# need a missing program skip, saying why).
#   --check       only report; install nothing
#   --only PKG    only the rows that install PKG (repeatable): `npm start` asks for
#                 redis-server this way, so the list of system dependencies is this one
set -euo pipefail

# One row a program: a check (a shell command that succeeds when it is there), the
# Debian packages that provide it, and what needs it. The worker's media programs are
# not listed here: their rows come from worker/media-programs.json below.
DEPS=(
  'command -v redis-server'       'redis-server'      'npm start, and the integration and slow test tiers (their private Redis)'
  'command -v redis-cli'          'redis-tools'       'the Redis Cluster the test harness builds (redis-cli --cluster create)'
  'php -r "exit(function_exists(\"curl_init\") ? 0 : 1);"'  'php-cli php-curl'  'test/compat: the ResourceSpace and Copernica PHP/cURL clients'
  'command -v curl'               'curl'              'test/compat: the documented curl examples'
  'command -v docker-compose || docker compose version'  'docker-compose'  'test/unit/deploy-files.test.ts: validating docker-compose.yml'
  'command -v chromium'  'chromium'  'test/browser: the web console in headless Chromium (playwright-core)'
  'bash scripts/ceph-rgw.sh check'  'radosgw ceph-mon ceph-osd'  'the S3 suites: a one-node Ceph cluster with its S3 gateway (scripts/ceph-rgw.sh)'
)

# The worker's media programs (ffmpeg, poppler-utils, …): one row a package, from the
# table the worker reads itself (worker/media-programs.ts), so each program is named with
# its package once. Optional ones (LibreOffice) are the Docker image's choice, not ours.
# Plain node: this runs before `npm ci`.
media_rows=$(node -e '
  const table = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const byPkg = new Map();
  for (const p of table.filter((p) => !p.optional)) {
    const row = byPkg.get(p.pkg) ?? { checks: [], gives: [] };
    row.checks.push([p.program, ...(p.or ?? [])].map((n) => `command -v ${n}`).join(" || "));
    row.gives.push(p.gives);
    byPkg.set(p.pkg, row);
  }
  for (const [pkg, r] of byPkg)
    console.log([r.checks.map((c) => `{ ${c}; }`).join(" && "), pkg, `the worker: ${r.gives.join("; ")} (worker/media-programs.json)`].join("\t"));
' "$(dirname "$0")/../worker/media-programs.json")
while IFS=$'\t' read -r check pkgs use; do DEPS+=("$check" "$pkgs" "$use"); done <<<"$media_rows"

install=1
only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --check) install=0 ;;
    --only) only+=("$2"); shift ;;
    *) echo "ensure-deps: unknown argument $1 (expected --check or --only PKG)" >&2; exit 2 ;;
  esac
  shift
done

# The row is wanted: no --only, or one of its packages was named.
wanted() {
  [ ${#only[@]} -eq 0 ] && return 0
  local pkg
  for pkg in $1; do
    for o in "${only[@]}"; do [ "$pkg" = "$o" ] && return 0; done
  done
  return 1
}

missing_pkgs=()
missing_uses=()
for ((i = 0; i < ${#DEPS[@]}; i += 3)); do
  check=${DEPS[i]} pkgs=${DEPS[i + 1]} use=${DEPS[i + 2]}
  wanted "$pkgs" || continue
  if ! bash -c "$check" >/dev/null 2>&1; then
    read -r -a p <<<"$pkgs"
    missing_pkgs+=("${p[@]}")
    missing_uses+=("$pkgs: $use")
  fi
done
[ ${#missing_pkgs[@]} -eq 0 ] && exit 0

if [ "$install" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-deps: installing ${missing_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Quiet unless it fails: Ceph alone unpacks ~270 MB of packages line by line.
  if ! apt_log=$(apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing_pkgs[@]}" 2>&1); then
    echo "$apt_log" | tail -n 40 >&2
    exit 1
  fi
  exit 0
fi

{
  echo "ensure-deps: missing system packages; install them with:"
  echo "  sudo apt-get install -y ${missing_pkgs[*]}"
  echo "until then these skip:"
  printf '  - %s\n' "${missing_uses[@]}"
} >&2
