#!/usr/bin/env bash
# bench/ingest.sh — DICOM ingest throughput, Bastion and Orthanc side by side.
#
# Sends the same synthetic sets with DCMTK's storescu to Orthanc (plain DICOM)
# and to Bastion (DICOM TLS and plain DICOM), over one association and over
# four concurrent ones, and reports instances/s, MB/s, the server's peak RSS,
# the Bastion/Orthanc ratios and Bastion's MB/s as a share of the disk's
# fsync'd write rate. Everything runs inside a private network namespace that
# has only `lo`: no packet can leave the machine (Orthanc 1.10 binds every
# interface, there is no loopback-only setting). See bench/README.md.
#
# Usage: bench/ingest.sh [--quick] [--instances N] [--repeat N]
#                        [--no-nodelay-variants] [--no-reference]
#                        [--only SERVERS] [--time-limit SECONDS] [--keep] [--build]
set -euo pipefail

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
BENCH_DIR=$(dirname "$SCRIPT")
ROOT=$(dirname "$BENCH_DIR")
PY=${PYTHON:-/usr/bin/python3}

usage() {
  cat <<'EOF'
usage: bench/ingest.sh [options]

  --quick                100 instances per set (a fast check of the harness)
  --instances N          instances per set (default 1000)
  --repeat N             run every configuration N times, report the median
                         (default 1)
  --no-nodelay-variants  skip the Bastion runs whose clients set TCP_NODELAY=1
  --no-reference         skip the storescp --ignore reference runs
  --only LIST            run only these servers, comma-separated, from
                         orthanc,bastion-tls,bastion-plain,reference
  --time-limit S         hard limit for the whole bench (default 1800, quick 600)
  --keep                 keep the temporary directory (for debugging)
  --build                run `cmake --build build` first even if binaries exist

Environment: BASTION_BIN (default build/src/cli/bastion),
BASTION_SYNTH_BIN (default build/tools/bastion-synth), BENCH_TMPDIR (where
data and sets go; default /var/tmp: it must be a real disk, not tmpfs),
PYTHON (default /usr/bin/python3).
Results: a table on stdout and bench/results/ingest-<UTC time>.json.
EOF
}

die() { echo "ingest.sh: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# ---------------------------------------------------------------- options
INSTANCES=1000
QUICK=0
REPEAT=1
NODELAY_VARIANTS=1
REFERENCE=1
TIME_LIMIT=""
KEEP=0
FORCE_BUILD=0
ONLY="orthanc,bastion-tls,bastion-plain,reference"
ORIG_ARGS=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; INSTANCES=100 ;;
    --instances) [ $# -ge 2 ] || { usage >&2; exit 2; }; INSTANCES=$2; shift ;;
    --instances=*) INSTANCES=${1#*=} ;;
    --repeat) [ $# -ge 2 ] || { usage >&2; exit 2; }; REPEAT=$2; shift ;;
    --repeat=*) REPEAT=${1#*=} ;;
    --no-nodelay-variants) NODELAY_VARIANTS=0 ;;
    --no-reference) REFERENCE=0 ;;
    --time-limit) [ $# -ge 2 ] || { usage >&2; exit 2; }; TIME_LIMIT=$2; shift ;;
    --time-limit=*) TIME_LIMIT=${1#*=} ;;
    --only) [ $# -ge 2 ] || { usage >&2; exit 2; }; ONLY=$2; shift ;;
    --only=*) ONLY=${1#*=} ;;
    --keep) KEEP=1 ;;
    --build) FORCE_BUILD=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "ingest.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[[ "$INSTANCES" =~ ^[1-9][0-9]*$ ]] || { echo "ingest.sh: --instances wants a positive integer" >&2; exit 2; }
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || { echo "ingest.sh: --repeat wants a positive integer" >&2; exit 2; }
for s in ${ONLY//,/ }; do
  case "$s" in orthanc|bastion-tls|bastion-plain|reference) ;;
    *) echo "ingest.sh: --only: unknown server '$s'" >&2; exit 2 ;;
  esac
done
want() { [[ ",$ONLY," == *",$1,"* ]] && { [ "$1" != reference ] || [ "$REFERENCE" = 1 ]; }; }
WANT_BASTION=0
if want bastion-tls || want bastion-plain; then WANT_BASTION=1; fi
if [ -z "$TIME_LIMIT" ]; then
  if [ "$QUICK" = 1 ]; then TIME_LIMIT=600; else TIME_LIMIT=1800; fi
fi
[[ "$TIME_LIMIT" =~ ^[1-9][0-9]*$ ]] || { echo "ingest.sh: --time-limit wants seconds" >&2; exit 2; }

BASTION_BIN=${BASTION_BIN:-$ROOT/build/src/cli/bastion}
SYNTH_BIN=${BASTION_SYNTH_BIN:-$ROOT/build/tools/bastion-synth}
ORTHANC_BIN=${ORTHANC_BIN:-/usr/sbin/Orthanc}

# ------------------------------------------- outside: prepare, then re-exec
if [ "${_BASTION_BENCH_IN_NETNS:-}" != 1 ]; then
  for tool in storescu storescp dd ip ss unshare timeout curl mkfifo "$PY"; do
    command -v "$tool" >/dev/null || die "missing tool '$tool' (scripts/install-deps.sh bench)"
  done
  [ -x "$ORTHANC_BIN" ] || die "missing $ORTHANC_BIN (Debian package orthanc; scripts/install-deps.sh bench)"
  if [ "$FORCE_BUILD" = 1 ] || { [ "$WANT_BASTION" = 1 ] && [ ! -x "$BASTION_BIN" ]; } || [ ! -x "$SYNTH_BIN" ]; then
    [ -d "$ROOT/build" ] || die "no build directory: run 'cmake -S . -B build' in $ROOT first"
    log "building: cmake --build build --target bastion bastion-synth"
    cmake --build "$ROOT/build" --target bastion bastion-synth -j "$(nproc)" >&2
  fi
  [ "$WANT_BASTION" = 0 ] || [ -x "$BASTION_BIN" ] || die "no bastion binary at $BASTION_BIN (set BASTION_BIN)"
  [ -x "$SYNTH_BIN" ] || die "no bastion-synth binary at $SYNTH_BIN (set BASTION_SYNTH_BIN)"
  export BASTION_BIN BASTION_SYNTH_BIN="$SYNTH_BIN" _BASTION_BENCH_IN_NETNS=1
  unshare_args=(--net)
  if [ "$(id -u)" -ne 0 ]; then
    # An unprivileged user may still get a network namespace inside a user
    # namespace where it is root.
    unshare_args=(--map-root-user --net)
  fi
  log "entering a private network namespace (only lo); time limit ${TIME_LIMIT}s"
  exec unshare "${unshare_args[@]}" -- bash "$SCRIPT" "${ORIG_ARGS[@]}"
fi

# ------------------------------------------------ inside the namespace
ip link set lo up || die "cannot bring lo up in the namespace"
if ip -o link show | grep -v -E '^[0-9]+: lo:' | grep -q .; then
  die "the namespace has interfaces other than lo; refusing to run"
fi
if ip -o addr show | grep -v -E '^[0-9]+: lo ' | grep -q .; then
  die "the namespace has addresses outside lo; refusing to run"
fi

BENCH_TMPDIR=${BENCH_TMPDIR:-/var/tmp}
WORK=$(mktemp -d "$BENCH_TMPDIR/bastion-bench.XXXXXX")
PIDS=()

# Run private copies of our binaries: a rebuild while the bench runs must not
# swap the server under it (or fail an exec half-way through a link).
mkdir -p "$WORK/bin"
cp "$BASTION_SYNTH_BIN" "$WORK/bin/bastion-synth"
BASTION_SYNTH_BIN="$WORK/bin/bastion-synth"
BASTION_SHA256=""
if [ "$WANT_BASTION" = 1 ]; then
  cp "$BASTION_BIN" "$WORK/bin/bastion"
  BASTION_BIN="$WORK/bin/bastion"
  BASTION_SHA256=$(sha256sum "$BASTION_BIN" | cut -c1-16)
fi

STOP_GRACE=10
# stop_pid, forget_pid, cleanup (traps), the watchdog, wait_port, wait_line
source "$BENCH_DIR/lib.sh"
now_ns() { date +%s%N; }

# ---------------------------------------------------------------- disk
disk_dd() {  # prints "bytes seconds" of an fdatasync'd 512 MiB write in WORK
  local out
  out=$(LC_ALL=C dd if=/dev/zero of="$WORK/dd.bin" bs=1M count=512 conv=fdatasync 2>&1 | tail -n 1)
  rm -f "$WORK/dd.bin"
  # "536870912 bytes (537 MB, 512 MiB) copied, 0.833337 s, 644 MB/s"
  awk '{ for (i = 1; i <= NF; i++) if ($i == "s,") { print $1, $(i-1); exit } }' <<<"$out"
}

# ---------------------------------------------------------------- sets
SETS=(ct small)
declare -A SET_ROWS=([ct]=512 [small]=64) SET_MOD=([ct]=CT [small]=MR) SET_SEED=([ct]=101 [small]=202)
declare -A SET_FILES SET_BYTES

make_set() {
  local name=$1 n=$INSTANCES studies series=2 per dir i
  studies=$((n >= 400 ? n / 200 : 1))
  per=$(((n + studies * series - 1) / (studies * series)))
  dir="$WORK/sets/$name"
  "$BASTION_SYNTH_BIN" --out "$dir" --studies "$studies" --series "$series" --instances "$per" \
    --rows "${SET_ROWS[$name]}" --cols "${SET_ROWS[$name]}" --modality "${SET_MOD[$name]}" \
    --seed "${SET_SEED[$name]}" >&2
  find "$dir" -type f -name '*.dcm' | sort >"$WORK/sets/$name.list"
  SET_FILES[$name]=$(wc -l <"$WORK/sets/$name.list")
  SET_BYTES[$name]=$(xargs -d '\n' stat -c %s <"$WORK/sets/$name.list" | awk '{ s += $1 } END { printf "%d", s }')
  # Four parts of consecutive files (so each association carries whole
  # series, as four modalities would), hard-linked into their own folders.
  local total=${SET_FILES[$name]} part f rel
  for part in 1 2 3 4; do mkdir -p "$WORK/sets/$name.part$part"; done
  i=0
  while IFS= read -r f; do
    part=$((i * 4 / total + 1))
    rel=${f#"$dir"/}
    ln "$f" "$WORK/sets/$name.part$part/${rel//\//_}"
    i=$((i + 1))
  done <"$WORK/sets/$name.list"
}

# ---------------------------------------------------------------- servers
ORTHANC_DICOM=4242
ORTHANC_HTTP=8042
BASTION_TLS=2762
BASTION_PLAIN=11112
REF_PORT=4243
SERVER_PID=""

start_orthanc() {  # start_orthanc RUNDIR
  local d=$1
  mkdir -p "$d/storage"
  cat >"$d/orthanc.json" <<EOF
{
  "Name" : "bench",
  "StorageDirectory" : "$d/storage",
  "IndexDirectory" : "$d/storage",
  "Plugins" : [ ],
  "DicomServerEnabled" : true,
  "DicomAet" : "ORTHANC",
  "DicomPort" : $ORTHANC_DICOM,
  "DicomCheckCalledAet" : false,
  "HttpServerEnabled" : true,
  "HttpPort" : $ORTHANC_HTTP,
  "RemoteAccessAllowed" : false,
  "AuthenticationEnabled" : false
}
EOF
  TCP_NODELAY=1 "$ORTHANC_BIN" "$d/orthanc.json" >"$d/server.log" 2>&1 </dev/null &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  if ! wait_port "$ORTHANC_DICOM" "$SERVER_PID" 60 || ! wait_port "$ORTHANC_HTTP" "$SERVER_PID" 60; then
    tail -n 20 "$d/server.log" >&2
    return 1
  fi
}

start_bastion() {  # start_bastion RUNDIR
  local d=$1
  "$BASTION_BIN" init --data "$d/data" --tls-port "$BASTION_TLS" --plain-port "$BASTION_PLAIN" \
    >"$d/init.log" 2>&1 || { cat "$d/init.log" >&2; return 1; }
  "$BASTION_BIN" node add --data "$d/data" --ae BENCH --host 127.0.0.1 --allow echo,store \
    >>"$d/init.log" 2>&1 || { cat "$d/init.log" >&2; return 1; }
  "$BASTION_BIN" node cert --data "$d/data" --ae BENCH --out "$d/certs" \
    >>"$d/init.log" 2>&1 || { cat "$d/init.log" >&2; return 1; }
  env -u TCP_NODELAY "$BASTION_BIN" serve --data "$d/data" >"$d/serve.out" 2>"$d/server.log" </dev/null &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  if ! wait_line "$d/serve.out" '^ready:' "$SERVER_PID" 60; then
    echo "bastion serve did not print 'ready:'; stdout:" >&2
    cat "$d/serve.out" >&2
    echo "stderr (last lines):" >&2
    tail -n 20 "$d/server.log" >&2
    return 1
  fi
}

start_reference() {  # DCMTK storescp that receives and discards: the client/transport ceiling
  local d=$1
  (cd "$d" && exec env TCP_NODELAY=1 storescp --fork --ignore -aet REFERENCE "$REF_PORT" \
    >"$d/server.log" 2>&1 </dev/null) &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_port "$REF_PORT" "$SERVER_PID" 30 || { tail -n 20 "$d/server.log" >&2; return 1; }
}

stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  stop_pid "$SERVER_PID" 30
  forget_pid "$SERVER_PID"
  SERVER_PID=""
}

peak_rss_kb() {  # VmHWM of PID in kB, or empty
  awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true
}

anon_kb() {  # RssAnon of PID in kB (private memory, no shared library pages), or empty
  awk '/^RssAnon:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true
}

# ------------------------------------------------------- retired data dirs
# A run's data directory is set aside, not deleted, until the whole bench is
# over. Deleting thousands of files slows every file creation on the same
# file system for the next minutes on ext4 without a journal (new inodes skip
# the ones freed in the last 60-360 s, reading the inode table for each), so
# a run right after a deletion would be measured slower than it is, and the
# faster server the more. Only when space runs short are they deleted, and the
# results say so.
RETIRED="$WORK/retired"
RETIRED_N=0
DELETED_BETWEEN_RUNS=0
mkdir -p "$RETIRED"
retire() {  # retire DIR
  local need_kb avail_kb
  need_kb=$(( ${SET_BYTES[ct]:-0} * 3 / 1024 + 4 * 1024 * 1024 ))  # next CT run x3, plus 4 GiB to spare
  avail_kb=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
  if [ "$avail_kb" -gt "$need_kb" ]; then
    RETIRED_N=$((RETIRED_N + 1))
    mv "$1" "$RETIRED/$RETIRED_N"
  else
    [ "$DELETED_BETWEEN_RUNS" = 1 ] || log "disk space is short: deleting run data between runs (slows the runs that follow on some file systems)"
    DELETED_BETWEEN_RUNS=1
    rm -rf "$1"
  fi
}

# ---------------------------------------------------------------- one run
RUNS_TSV="$WORK/runs.tsv"
printf 'set\tassoc\tserver\ttransport\tclient_nodelay\trepeat\tfiles\tbytes\tseconds\tacked\tstatus\tpeak_rss_kb\tanon_kb\tnote\n' >"$RUNS_TSV"

# run_one SET ASSOC SERVER(orthanc|bastion|reference) TRANSPORT(tls|plain) CLIENT_NODELAY(0|1) REPEAT
run_one() {
  local set=$1 assoc=$2 server=$3 transport=$4 nd=$5 rep=$6
  local d="$WORK/run" label="$server"
  [ "$server" = bastion ] && label="bastion-$transport"
  mkdir -p "$d"
  sync
  local status=ok note="" rss="" anon="" acked=0 secs=0
  local -a client=(storescu -v -aet BENCH -to 10 -ta 30 -ts 120 +sd +r)
  local port aec
  case "$server" in
    orthanc)
      start_orthanc "$d" || { status=failed; note="orthanc did not start"; }
      port=$ORTHANC_DICOM; aec=ORTHANC ;;
    bastion)
      start_bastion "$d" || { status=failed; note="bastion did not start"; }
      aec=BASTION
      if [ "$transport" = tls ]; then
        port=$BASTION_TLS
        client+=(+tls "$d/certs/key.pem" "$d/certs/cert.pem" -pw +cf "$d/certs/ca.pem" +py)
      else
        port=$BASTION_PLAIN
      fi ;;
    reference)
      start_reference "$d" || { status=failed; note="storescp did not start"; }
      port=$REF_PORT; aec=REFERENCE ;;
  esac
  client+=(-aec "$aec" 127.0.0.1 "$port")
  local -a envset=(env -u TCP_NODELAY)
  [ "$nd" = 1 ] && envset=(env TCP_NODELAY=1)

  if [ "$status" = ok ]; then
    log "run: $set x${SET_FILES[$set]}, $assoc assoc, $label, client TCP_NODELAY=$([ "$nd" = 1 ] && echo 1 || echo unset) (#$rep)"
    local t0 t1 i rc fail=0
    local -a cpids=()
    t0=$(now_ns)
    if [ "$assoc" = 1 ]; then
      "${envset[@]}" timeout "$RUN_TIMEOUT" "${client[@]}" "$WORK/sets/$set" >"$d/client1.log" 2>&1 </dev/null &
      cpids+=($!)
    else
      for i in 1 2 3 4; do
        "${envset[@]}" timeout "$RUN_TIMEOUT" "${client[@]}" "$WORK/sets/$set.part$i" >"$d/client$i.log" 2>&1 </dev/null &
        cpids+=($!)
      done
    fi
    PIDS+=("${cpids[@]}")
    for i in "${!cpids[@]}"; do
      rc=0
      wait "${cpids[$i]}" || rc=$?
      forget_pid "${cpids[$i]}"
      if [ "$rc" != 0 ]; then
        fail=1
        note+="client $((i + 1)) exit $rc; "
      fi
    done
    t1=$(now_ns)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    acked=$(cat "$d"/client*.log | grep -c 'Received Store Response (Success)' || true)
    if [ -n "$SERVER_PID" ] && [ "$server" != reference ]; then
      rss=$(peak_rss_kb "$SERVER_PID")
      anon=$(anon_kb "$SERVER_PID")
    fi
    if [ "$server" = orthanc ]; then
      local count
      count=$(curl -s --max-time 10 "http://127.0.0.1:$ORTHANC_HTTP/statistics" |
        "$PY" -c 'import json,sys; print(json.load(sys.stdin)["CountInstances"])' 2>/dev/null || echo "?")
      [ "$count" = "${SET_FILES[$set]}" ] || note+="orthanc holds $count instances; "
    fi
    if [ "$fail" = 1 ] || [ "$acked" != "${SET_FILES[$set]}" ]; then
      status=failed
      note+="acked $acked of ${SET_FILES[$set]}; "
      for i in "$d"/client*.log; do
        echo "--- $i (last lines)" >&2
        grep -v '^XMIT' "$i" | tail -n 8 >&2
      done
      echo "--- server log (last lines)" >&2
      tail -n 15 "$d/server.log" >&2 || true
    fi
  fi
  stop_server
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$set" "$assoc" "$label" "$transport" "$nd" "$rep" "${SET_FILES[$set]}" "${SET_BYTES[$set]}" \
    "$secs" "$acked" "$status" "$rss" "$anon" "${note%; }" >>"$RUNS_TSV"
  retire "$d"
}

# ---------------------------------------------------------------- main
if [ "$QUICK" = 1 ]; then RUN_TIMEOUT=120; else RUN_TIMEOUT=600; fi
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
# "ext4", or "ext4 without journal" (where recent deletions slow file creation).
fs_description() {
  local type dev task
  type=$(df -T "$1" | awk 'NR == 2 { print $2 }')
  dev=$(df -P "$1" | awk 'NR == 2 { print $1 }')
  if [ "$type" = ext4 ]; then
    task=$(cat "/sys/fs/ext4/${dev#/dev/}/journal_task" 2>/dev/null || true)
    [ "$task" = "<none>" ] && type="ext4 without journal"
  fi
  echo "$type"
}
log "work dir $WORK ($(fs_description "$WORK"))"

log "disk: time to create an empty file (slow after a recent mass deletion)"
CREATE1=$("$PY" "$BENCH_DIR/create_rate.py" --dir "$WORK/create-start")
log "disk: dd 512 MiB with conv=fdatasync"
read -r DD1_BYTES DD1_SECS < <(disk_dd)

for s in "${SETS[@]}"; do
  log "generating set '$s'"
  make_set "$s"
done
log "disk: per-file fsync rate at each set's file size"
"$PY" "$BENCH_DIR/fsync_rate.py" --dir "$WORK/fsync" \
  --sizes "$((SET_BYTES[ct] / SET_FILES[ct])),$((SET_BYTES[small] / SET_FILES[small]))" \
  --names ct,small >"$WORK/fsync.json"
retire "$WORK/fsync"

for ((rep = 1; rep <= REPEAT; rep++)); do
  for s in "${SETS[@]}"; do
    for assoc in 1 4; do
      if want orthanc; then run_one "$s" "$assoc" orthanc plain 1 "$rep"; fi
      if want bastion-tls; then
        run_one "$s" "$assoc" bastion tls 0 "$rep"
        if [ "$NODELAY_VARIANTS" = 1 ]; then run_one "$s" "$assoc" bastion tls 1 "$rep"; fi
      fi
      if want bastion-plain; then
        run_one "$s" "$assoc" bastion plain 0 "$rep"
        if [ "$NODELAY_VARIANTS" = 1 ]; then run_one "$s" "$assoc" bastion plain 1 "$rep"; fi
      fi
      if want reference; then run_one "$s" "$assoc" reference plain 1 "$rep"; fi
    done
  done
done

log "disk: dd again at the end"
read -r DD2_BYTES DD2_SECS < <(disk_dd)
CREATE2=$("$PY" "$BENCH_DIR/create_rate.py" --dir "$WORK/create-end")
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

mkdir -p "$BENCH_DIR/results"
OUT_JSON="$BENCH_DIR/results/ingest-$STAMP.json"
"$PY" "$BENCH_DIR/ingest_report.py" \
  --runs "$RUNS_TSV" --fsync "$WORK/fsync.json" --out "$OUT_JSON" \
  --started "$STARTED" --quick "$QUICK" --instances "$INSTANCES" --repeat "$REPEAT" \
  --dd "$DD1_BYTES" "$DD1_SECS" --dd "$DD2_BYTES" "$DD2_SECS" \
  --load "$LOAD_START" --load "$LOAD_END" \
  --fs "$(fs_description "$WORK")" --workdir "$BENCH_TMPDIR" \
  --deleted-between-runs "$DELETED_BETWEEN_RUNS" --create "$CREATE1" --create "$CREATE2" \
  --set "ct:${SET_ROWS[ct]}:${SET_MOD[ct]}:${SET_FILES[ct]}:${SET_BYTES[ct]}" \
  --set "small:${SET_ROWS[small]}:${SET_MOD[small]}:${SET_FILES[small]}:${SET_BYTES[small]}" \
  --orthanc-version "$("$ORTHANC_BIN" --version 2>/dev/null | head -n 1)" \
  --bastion-version "$([ "$WANT_BASTION" = 1 ] && "$BASTION_BIN" --version 2>/dev/null | head -n 1) ${BASTION_SHA256:+(sha256 $BASTION_SHA256...)}" \
  --dcmtk-version "$(storescu --version 2>/dev/null | head -n 1 | tr -d '$')" \
  --git "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+dirty')"
log "results written to $OUT_JSON"
