#!/usr/bin/env bash
# A one-node Ceph cluster with an S3 gateway (radosgw) on 127.0.0.1, for tests, benches
# and trying STORAGE_DRIVER=s3 locally. Everything lives in one directory: config, logs,
# the monitor's store and the OSD's memstore (objects are held in memory and saved to the
# directory on a clean stop, so stop + start keeps them).
#
#   scripts/ceph-rgw.sh start [DIR]        start (or restart with its data) the cluster in DIR
#   scripts/ceph-rgw.sh stop [DIR] [--kill] stop it, keeping DIR (--kill: fast, objects not saved)
#   scripts/ceph-rgw.sh stop-gateway [DIR] [--abrupt]   stop radosgw only (an S3 outage)
#   scripts/ceph-rgw.sh start-gateway [DIR]              start it again on the same port
#   scripts/ceph-rgw.sh env [DIR]          print the S3_* variables for media-ingest
#   scripts/ceph-rgw.sh check              exit 0 when the Ceph programs are installed
#
# DIR defaults to $TMPDIR/media-ingest-rgw. On first start: RGW_PORT and MON_PORT choose the
# ports (default: free ones), S3_ACCESS_KEY / S3_SECRET_KEY the S3 user's keys,
# MEMSTORE_BYTES the most the OSD holds (default 2 GiB; memory is used as objects arrive).
# WATCH_PID=<pid> stops the cluster once that process is gone (a test run that was killed).
#
# Needs Debian's `radosgw ceph-mon ceph-osd` (Ceph 16): apt-get install -y radosgw ceph-mon ceph-osd
set -euo pipefail

cmd=${1:-}
dir=${2:-${TMPDIR:-/tmp}/media-ingest-rgw}
conf=$dir/ceph.conf

die() {
  echo "ceph-rgw: $*" >&2
  exit 1
}

installed() {
  command -v ceph-mon >/dev/null 2>&1 && command -v ceph-osd >/dev/null 2>&1 && command -v radosgw >/dev/null 2>&1 && command -v radosgw-admin >/dev/null 2>&1
}

# A port nothing listens on, from the dynamic range.
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  die "found no free port"
}

setting() {
  sed -n "s/^# $1 = //p" "$conf"
}

pid_of() {
  local f=$dir/run/$1.pid
  [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"
}

# Stop one daemon: SIGTERM (the OSD saves its memstore then) and wait for it to exit.
stop_daemon() {
  local name=$1 signal=${2:-TERM} pid
  pid=$(pid_of "$name") || return 0
  kill -s "$signal" "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/run/$name.pid"
}

wait_for() {
  local what=$1 tries=$2
  shift 2
  for _ in $(seq 1 "$tries"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "$what did not come up; see $dir/log"
}

gateway_answers() {
  curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$(setting rgw_port)/" 2>/dev/null ||
    # curl may be missing: a bare HTTP request through bash.
    {
      exec 3<>"/dev/tcp/127.0.0.1/$(setting rgw_port)" &&
        printf 'GET / HTTP/1.0\r\n\r\n' >&3 &&
        head -c 12 <&3 | grep -q 'HTTP/1.1 200'
    }
}

write_conf() {
  local mon_port rgw_port fsid
  mon_port=${MON_PORT:-$(free_port)}
  rgw_port=${RGW_PORT:-$(free_port)}
  fsid=$(cat /proc/sys/kernel/random/uuid)
  mkdir -p "$dir/run" "$dir/log" "$dir/mon" "$dir/osd"
  cat >"$conf" <<CONF
# mon_port = $mon_port
# rgw_port = $rgw_port
# access_key = ${S3_ACCESS_KEY:-media-ingest}
# secret_key = ${S3_SECRET_KEY:-media-ingest-secret}
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
run dir = $dir/run
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
log to stderr = false
err to stderr = false
keyring = $dir/keyring
# No cephx: nothing but this machine talks to it. Clients must then also not insist on
# a secure connection to the monitor, or radosgw loops on auth error -13.
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
# One OSD: one copy of everything, few placement groups.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
# Monitor commits proposals at once (default 1 s): first start takes ~3 s, not ~14 s.
paxos propose interval = 0.05
mon data = $dir/mon
osd data = $dir/osd
osd objectstore = memstore
memstore device bytes = ${MEMSTORE_BYTES:-2147483648}
# The memstore is written to disk only on an orderly shutdown.
osd fast shutdown = false
osd memory target = 268435456
osd op num shards = 1
osd op num threads per shard = 2
# The monitor stops when its disk is 95 % full by default; a test machine's may well be.
mon data avail warn = 2
mon data avail crit = 1
# Quiet logs: errors only, no line per request.
debug rgw = 0/0
debug ms = 0/0
rgw enable ops log = false
# A deleted object's data goes to garbage collection, by default after 2 hours; in memory
# it must go at once, or deleting frees nothing and a full OSD blocks every write.
rgw gc obj min wait = 2
rgw gc processor period = 2
rgw gc processor max time = 2

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $dir/rgw
rgw thread pool size = 64
rgw dns name = 127.0.0.1
CONF
  : >"$dir/keyring"
}

start_gateway() {
  pid_of client.rgw >/dev/null && return 0
  radosgw -c "$conf" -n client.rgw
  wait_for "radosgw on port $(setting rgw_port)" 600 gateway_answers
}

start() {
  installed || die "Ceph is not installed; as root: apt-get install -y radosgw ceph-mon ceph-osd"
  local first=false
  if [ ! -f "$conf" ]; then
    first=true
    write_conf
    monmaptool --create --clobber --fsid "$(sed -n 's/^fsid = //p' "$conf")" --addv a "[v2:127.0.0.1:$(setting mon_port)]" "$dir/monmap" >/dev/null
    ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" >/dev/null
  fi
  pid_of mon.a >/dev/null || ceph-mon -c "$conf" -i a
  if $first; then
    local uuid
    uuid=$(cat /proc/sys/kernel/random/uuid)
    ceph -c "$conf" osd new "$uuid" 0 >/dev/null
    ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$uuid" >/dev/null 2>&1
  fi
  pid_of osd.0 >/dev/null || ceph-osd -c "$conf" -i 0
  start_gateway
  if $first; then
    radosgw-admin -c "$conf" user create --uid media-ingest --display-name media-ingest \
      --access-key "$(setting access_key)" --secret-key "$(setting secret_key)" >/dev/null
  fi
  if [ -n "${WATCH_PID:-}" ]; then
    # Detached from this shell's output, so whoever ran `start` is not kept waiting on it.
    (
      while kill -0 "$WATCH_PID" 2>/dev/null && [ -f "$conf" ]; do sleep 2; done
      [ -f "$conf" ] && "$0" stop "$dir"
    ) </dev/null >/dev/null 2>&1 &
  fi
  print_env
}

stop() {
  [ -f "$conf" ] || return 0
  # --kill: the data is not wanted (the directory goes next), so no orderly save.
  local signal=TERM
  [ "${1:-}" = --kill ] && signal=KILL
  stop_daemon client.rgw "$signal"
  stop_daemon osd.0 "$signal"
  stop_daemon mon.a "$signal"
}

print_env() {
  echo "S3_ENDPOINT=http://127.0.0.1:$(setting rgw_port)"
  echo "S3_ACCESS_KEY=$(setting access_key)"
  echo "S3_SECRET_KEY=$(setting secret_key)"
}

case $cmd in
  start) start ;;
  stop) stop "${3:-}" ;;
  stop-gateway) [ "${3:-}" = --abrupt ] && stop_daemon client.rgw KILL || stop_daemon client.rgw ;;
  start-gateway) start_gateway ;;
  env) [ -f "$conf" ] || die "no cluster in $dir; run: $0 start $dir"; print_env ;;
  check) installed ;;
  *) sed -n '2,20s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
