#!/usr/bin/env bash
# bench/query.sh — C-FIND latency on a large catalog, Bastion and Orthanc side
# by side.
#
# Builds (once, cached in bench/results/query-cache/) a synthetic catalog of
# N studies with bastion-synth (tiny 8x8 images, 1..M instances per study,
# realistic surnames, ten years of study dates, six modalities), fills it into
# Bastion and Orthanc over several storescu associations (Bastion optionally by
# `bastion import`), then times DCMTK findscu runs of six Study Root
# STUDY-level query shapes against both, and the same queries in-process with
# bastion-findlat (no findscu start-up), and reports the median and p95 per
# shape and the Orthanc/Bastion ratios. Everything runs inside a private network
# namespace that has only `lo` (Orthanc 1.10 binds every interface). See
# bench/README.md.
#
# Usage: bench/query.sh [--sizes LIST] [--seed N] [--max-instances M]
#                       [--runs N] [--warmup N] [--shape-budget S]
#                       [--assoc N] [--bastion-fill storescu|import]
#                       [--fill-only] [--refill] [--orthanc-limit N]
#                       [--time-limit S] [--keep] [--build]
set -euo pipefail

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
BENCH_DIR=$(dirname "$SCRIPT")
ROOT=$(dirname "$BENCH_DIR")
PY=${PYTHON:-/usr/bin/python3}

usage() {
  cat <<'EOF'
usage: bench/query.sh [options]

  --sizes LIST           catalog sizes in studies, comma-separated
                         (default 10000,100000)
  --seed N               bastion-synth seed (default 31); part of the cache key
  --max-instances M      instances per study vary over 1..M (default 10);
                         part of the cache key
  --runs N               timed findscu runs per shape and server (default 30)
  --warmup N             untimed runs before them (default 3)
  --shape-budget S       stop a shape's timed runs for one server once they
                         took S seconds in total (at least 3 runs; default 120)
  --assoc N              concurrent storescu associations for the fill
                         (default 4)
  --bastion-fill HOW     storescu (default: the same path as Orthanc) or
                         import (`bastion import`, the archive's own path)
  --fill-only            fill the catalogs (or check the cache) and stop
  --refill               drop the cached catalogs of these sizes and refill
  --orthanc-limit N      Orthanc's LimitFindResults (default 0 = unlimited,
                         Orthanc's own default)
  --time-limit S         hard limit for the whole bench (default 7200)
  --keep                 keep the temporary directory (for debugging)
  --build                run `cmake --build build` first even if binaries exist

Environment: BASTION_BIN (default build/src/cli/bastion),
BASTION_SYNTH_BIN (default build/tools/bastion-synth), BASTION_FINDLAT_BIN
(default build/tools/bastion-findlat), PYTHON (default
/usr/bin/python3), QUERY_CACHE (default bench/results/query-cache; must be a
real disk).
Results: a table per size on stdout and bench/results/query-<UTC time>.json.
EOF
}

die() { echo "query.sh: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# ---------------------------------------------------------------- options
SIZES="10000,100000"
SEED=31
MAX_INST=10
RUNS=30
WARMUP=3
SHAPE_BUDGET=120
ASSOC=4
BASTION_FILL=storescu
FILL_ONLY=0
REFILL=0
ORTHANC_LIMIT=0
TIME_LIMIT=7200
KEEP=0
FORCE_BUILD=0
ORIG_ARGS=("$@")
need() { [ "$1" -ge 2 ] || { usage >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) need $#; SIZES=$2; shift ;;
    --sizes=*) SIZES=${1#*=} ;;
    --seed) need $#; SEED=$2; shift ;;
    --seed=*) SEED=${1#*=} ;;
    --max-instances) need $#; MAX_INST=$2; shift ;;
    --max-instances=*) MAX_INST=${1#*=} ;;
    --runs) need $#; RUNS=$2; shift ;;
    --runs=*) RUNS=${1#*=} ;;
    --warmup) need $#; WARMUP=$2; shift ;;
    --warmup=*) WARMUP=${1#*=} ;;
    --shape-budget) need $#; SHAPE_BUDGET=$2; shift ;;
    --shape-budget=*) SHAPE_BUDGET=${1#*=} ;;
    --assoc) need $#; ASSOC=$2; shift ;;
    --assoc=*) ASSOC=${1#*=} ;;
    --bastion-fill) need $#; BASTION_FILL=$2; shift ;;
    --bastion-fill=*) BASTION_FILL=${1#*=} ;;
    --fill-only) FILL_ONLY=1 ;;
    --refill) REFILL=1 ;;
    --orthanc-limit) need $#; ORTHANC_LIMIT=$2; shift ;;
    --orthanc-limit=*) ORTHANC_LIMIT=${1#*=} ;;
    --time-limit) need $#; TIME_LIMIT=$2; shift ;;
    --time-limit=*) TIME_LIMIT=${1#*=} ;;
    --keep) KEEP=1 ;;
    --build) FORCE_BUILD=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "query.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[[ "$SIZES" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || { echo "query.sh: --sizes wants positive integers, comma-separated" >&2; exit 2; }
for v in SEED MAX_INST RUNS ASSOC TIME_LIMIT SHAPE_BUDGET; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "query.sh: ${v,,} wants a positive integer" >&2; exit 2; }
done
[[ "$WARMUP" =~ ^[0-9]+$ ]] || { echo "query.sh: --warmup wants an integer" >&2; exit 2; }
[[ "$ORTHANC_LIMIT" =~ ^[0-9]+$ ]] || { echo "query.sh: --orthanc-limit wants an integer" >&2; exit 2; }
case "$BASTION_FILL" in storescu|import) ;; *) echo "query.sh: --bastion-fill wants storescu or import" >&2; exit 2 ;; esac
for n in ${SIZES//,/ }; do [ "$n" -le 999999 ] || { echo "query.sh: sizes up to 999999 studies" >&2; exit 2; }; done

BASTION_BIN=${BASTION_BIN:-$ROOT/build/src/cli/bastion}
SYNTH_BIN=${BASTION_SYNTH_BIN:-$ROOT/build/tools/bastion-synth}
FINDLAT_BIN=${BASTION_FINDLAT_BIN:-$ROOT/build/tools/bastion-findlat}
ORTHANC_BIN=${ORTHANC_BIN:-/usr/sbin/Orthanc}
CACHE=${QUERY_CACHE:-$BENCH_DIR/results/query-cache}

# ------------------------------------------- outside: prepare, then re-exec
if [ "${_BASTION_BENCH_IN_NETNS:-}" != 1 ]; then
  for tool in storescu findscu echoscu dcmdump ip ss unshare timeout curl mkfifo sqlite3 "$PY"; do
    command -v "$tool" >/dev/null || die "missing tool '$tool' (scripts/install-deps.sh bench)"
  done
  [ -x "$ORTHANC_BIN" ] || die "missing $ORTHANC_BIN (Debian package orthanc; scripts/install-deps.sh bench)"
  if [ "$FORCE_BUILD" = 1 ] || [ ! -x "$BASTION_BIN" ] || [ ! -x "$SYNTH_BIN" ] || [ ! -x "$FINDLAT_BIN" ]; then
    [ -d "$ROOT/build" ] || die "no build directory: run 'cmake -S . -B build' in $ROOT first"
    log "building: cmake --build build --target bastion bastion-synth bastion-findlat"
    cmake --build "$ROOT/build" --target bastion bastion-synth bastion-findlat -j "$(nproc)" >&2
  fi
  [ -x "$BASTION_BIN" ] || die "no bastion binary at $BASTION_BIN (set BASTION_BIN)"
  [ -x "$SYNTH_BIN" ] || die "no bastion-synth binary at $SYNTH_BIN (set BASTION_SYNTH_BIN)"
  [ -x "$FINDLAT_BIN" ] || die "no bastion-findlat binary at $FINDLAT_BIN (set BASTION_FINDLAT_BIN)"
  export BASTION_BIN BASTION_SYNTH_BIN="$SYNTH_BIN" BASTION_FINDLAT_BIN="$FINDLAT_BIN" _BASTION_BENCH_IN_NETNS=1
  unshare_args=(--net)
  [ "$(id -u)" -eq 0 ] || unshare_args=(--map-root-user --net)
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

mkdir -p "$CACHE"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bastion-qbench.XXXXXX")
PIDS=()

# Private copies of our binaries: a rebuild during the bench must not swap
# the server under it.
mkdir -p "$WORK/bin"
cp "$BASTION_SYNTH_BIN" "$WORK/bin/bastion-synth"
cp "$BASTION_BIN" "$WORK/bin/bastion"
cp "$FINDLAT_BIN" "$WORK/bin/bastion-findlat"
SYNTH_BIN="$WORK/bin/bastion-synth"
FINDLAT_BIN="$WORK/bin/bastion-findlat"
BASTION_BIN="$WORK/bin/bastion"
BASTION_SHA256=$(sha256sum "$BASTION_BIN" | cut -c1-16)

STOP_GRACE=30
# stop_pid, forget_pid, cleanup (traps), the watchdog, wait_port, wait_line
source "$BENCH_DIR/lib.sh"
now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }

# ---------------------------------------------------------------- servers
ORTHANC_DICOM=4242
ORTHANC_HTTP=8042
BASTION_TLS=2762
BASTION_PLAIN=11112
ORTHANC_PID=""
BASTION_PID=""

start_orthanc() {  # start_orthanc DIR: storage and index in DIR/storage
  local d=$1
  mkdir -p "$d/storage"
  # BENCH may query (DicomAlwaysAllowFind is false by default); stores are
  # allowed from any AE by default. Everything else is Orthanc's default,
  # durability (SyncStorageArea) and LimitFindResults included.
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
  "DicomModalities" : { "BENCH" : [ "BENCH", "127.0.0.1", 104 ] },
  "LimitFindResults" : $ORTHANC_LIMIT,
  "HttpServerEnabled" : true,
  "HttpPort" : $ORTHANC_HTTP,
  "RemoteAccessAllowed" : false,
  "AuthenticationEnabled" : false
}
EOF
  TCP_NODELAY=1 "$ORTHANC_BIN" "$d/orthanc.json" >"$d/server.log" 2>&1 </dev/null &
  ORTHANC_PID=$!
  PIDS+=("$ORTHANC_PID")
  if ! wait_port "$ORTHANC_DICOM" "$ORTHANC_PID" 300 || ! wait_port "$ORTHANC_HTTP" "$ORTHANC_PID" 60; then
    tail -n 20 "$d/server.log" >&2
    return 1
  fi
}

stop_orthanc() {
  [ -n "$ORTHANC_PID" ] || return 0
  stop_pid "$ORTHANC_PID" 120
  forget_pid "$ORTHANC_PID"
  ORTHANC_PID=""
}

orthanc_count() {  # instances or studies Orthanc holds: orthanc_count Instances|Studies
  curl -s --max-time 30 "http://127.0.0.1:$ORTHANC_HTTP/statistics" |
    "$PY" -c "import json,sys; print(json.load(sys.stdin)['Count$1'])" 2>/dev/null || echo "?"
}

init_bastion() {  # init_bastion DIR: data directory with node BENCH (echo, store, find)
  local d=$1
  rm -rf "$d/data"
  "$BASTION_BIN" init --data "$d/data" --tls-port "$BASTION_TLS" --plain-port "$BASTION_PLAIN" \
    >"$d/init.log" 2>&1 || { cat "$d/init.log" >&2; return 1; }
  "$BASTION_BIN" node add --data "$d/data" --ae BENCH --host 127.0.0.1 --allow echo,store,find \
    >>"$d/init.log" 2>&1 || { cat "$d/init.log" >&2; return 1; }
}

start_bastion() {  # start_bastion DIR
  local d=$1
  env -u TCP_NODELAY "$BASTION_BIN" serve --data "$d/data" >"$d/serve.out" 2>"$d/server.log" </dev/null &
  BASTION_PID=$!
  PIDS+=("$BASTION_PID")
  if ! wait_line "$d/serve.out" '^ready:' "$BASTION_PID" 300; then
    echo "bastion serve did not print 'ready:'; stdout:" >&2
    cat "$d/serve.out" >&2
    echo "stderr (last lines):" >&2
    tail -n 20 "$d/server.log" >&2
    return 1
  fi
}

stop_bastion() {
  [ -n "$BASTION_PID" ] || return 0
  stop_pid "$BASTION_PID" 120
  forget_pid "$BASTION_PID"
  BASTION_PID=""
}

bastion_count() {  # bastion_count instances|studies (read-only look at the catalog)
  sqlite3 -readonly "file:$1/data/catalog/catalog.db?mode=ro" "SELECT count(*) FROM $2" 2>/dev/null || echo "?"
}

# ---------------------------------------------------------------- the catalog
# Cache layout, per size: $CACHE/s<studies>-i<max>-seed<seed>/
#   set/              bastion-synth output (STUDY000001/...), set.done when complete
#   chunks/NNNN.list  study folders per fill chunk (CHUNK studies each)
#   bastion/, orthanc/  the servers' data; <server>.chunks: one line per chunk
#                       filled ("chunk instances seconds"), fill.done when all are
CHUNK=2500

prepare_set() {  # prepare_set DIR STUDIES
  local d=$1 n=$2
  if [ -f "$d/set.done" ]; then return 0; fi
  rm -rf "$d/set" "$d/chunks"
  local patients=$(((n * 2 + 4) / 5))  # ~2.5 studies per patient
  log "generating $n studies (1..$MAX_INST instances, 8x8) into $d/set"
  local t0; t0=$(now_ns)
  "$SYNTH_BIN" --out "$d/set" --studies "$n" --series 1 --instances 1 --instances-max "$MAX_INST" \
    --rows 8 --cols 8 --modality mix --names realistic --first-year 2015 --years 10 \
    --patients "$patients" --seed "$SEED" >&2
  local gen; gen=$(secs_since "$t0")
  mkdir -p "$d/chunks"
  (cd "$d/set" && find . -mindepth 1 -maxdepth 1 -type d -name 'STUDY*' | sed 's|^\./||' | sort) |
    split -d -a 4 -l "$CHUNK" --additional-suffix=.list - "$d/chunks/"
  local files bytes
  files=$(find "$d/set" -type f -name '*.dcm' | wc -l)
  bytes=$(du -sb --apparent-size "$d/set" | cut -f1)
  printf '{"studies": %d, "instances": %d, "bytes": %d, "generate_seconds": %s, "seed": %d, "max_instances": %d, "patients": %d}\n' \
    "$n" "$files" "$bytes" "$gen" "$SEED" "$MAX_INST" "$patients" >"$d/set.json"
  touch "$d/set.done"
}

# fill_chunk SERVER DIR CHUNKFILE: prints "instances seconds"; fails if not
# every instance was acknowledged (Success or Warning).
fill_chunk() {
  local server=$1 d=$2 list=$3 part i rc fail=0 acked=0 files
  local tmp="$WORK/fill"
  rm -rf "$tmp"; mkdir -p "$tmp"
  files=0
  # ASSOC parts of consecutive studies.
  local total; total=$(wc -l <"$list")
  for ((i = 1; i <= ASSOC; i++)); do
    awk -v a="$i" -v n="$ASSOC" -v t="$total" 'int((NR - 1) * n / t) + 1 == a { print }' "$list" |
      sed "s|^|$d/set/|" >"$tmp/part$i"
  done
  files=$(sed "s|^|$d/set/|" "$list" | xargs -d '\n' sh -c 'find "$@" -type f -name "*.dcm"' sh | wc -l)
  local t0; t0=$(now_ns)
  if [ "$server" = bastion-import ]; then
    rc=0
    sed "s|^|$d/set/|" "$list" | xargs -d '\n' "$BASTION_BIN" import --data "$d/bastion/data" \
      >"$tmp/import.log" 2>&1 || rc=$?
    [ "$rc" = 0 ] || { tail -n 20 "$tmp/import.log" >&2; return 1; }
    acked=$files
  else
    local port aec
    if [ "$server" = orthanc ]; then port=$ORTHANC_DICOM; aec=ORTHANC; else port=$BASTION_PLAIN; aec=BASTION; fi
    local -a cpids=()
    for ((i = 1; i <= ASSOC; i++)); do
      [ -s "$tmp/part$i" ] || continue
      xargs -d '\n' -a "$tmp/part$i" env TCP_NODELAY=1 timeout 3600 \
        storescu -v -aet BENCH -aec "$aec" -to 30 -ta 30 -ts 300 +sd +r 127.0.0.1 "$port" \
        >"$tmp/client$i.log" 2>&1 </dev/null &
      cpids+=($!)
    done
    PIDS+=("${cpids[@]}")
    for p in "${cpids[@]}"; do
      rc=0; wait "$p" || rc=$?; forget_pid "$p"
      [ "$rc" = 0 ] || fail=1
    done
    acked=$(cat "$tmp"/client*.log | grep -c -E 'Received Store Response \((Success|Warning)' || true)
    if [ "$fail" = 1 ] || [ "$acked" != "$files" ]; then
      log "fill of $(basename "$list") into $server: acked $acked of $files"
      for i in "$tmp"/client*.log; do echo "--- $i" >&2; grep -v '^XMIT' "$i" | tail -n 6 >&2; done
      return 1
    fi
  fi
  echo "$files $(secs_since "$t0")"
}

# fill SERVER DIR: resumable, chunk by chunk
fill() {
  local server=$1 d=$2 sdir
  sdir="$d/$server"
  [ "$server" = bastion ] || [ "$server" = orthanc ] || die "fill: $server"
  if [ -f "$sdir/fill.done" ]; then
    log "$server: cached fill in $sdir"
    return 0
  fi
  mkdir -p "$sdir"
  if [ "$server" = bastion ] && [ ! -d "$sdir/data" ]; then init_bastion "$sdir" || return 1; fi
  touch "$sdir/chunks"
  local how=$server
  [ "$server" = bastion ] && [ "$BASTION_FILL" = import ] && how=bastion-import
  if [ "$how" = bastion-import ]; then echo "bastion import" >"$sdir/fill.how"; else echo "storescu x$ASSOC" >"$sdir/fill.how"; fi
  if [ "$how" = orthanc ]; then start_orthanc "$sdir" || return 1; fi
  if [ "$how" = bastion ]; then start_bastion "$sdir" || return 1; fi
  local list name out nchunks done_n
  nchunks=$(ls "$d/chunks" | wc -l)
  for list in "$d"/chunks/*.list; do
    name=$(basename "$list" .list)
    if grep -q "^$name " "$sdir/chunks"; then continue; fi
    # A chunk cut short is sent again whole: both servers take a copy of an
    # instance they hold (same bytes) as success.
    out=$(fill_chunk "$how" "$d" "$list") || { stop_orthanc; stop_bastion; return 1; }
    echo "$name $out" >>"$sdir/chunks"
    done_n=$(wc -l <"$sdir/chunks")
    log "$server: chunk $done_n/$nchunks: $out (instances seconds) — $(awk '{ n += $2; s += $3 } END { printf "%d instances in %.0f s, %.0f/s", n, s, n / s }' "$sdir/chunks")"
  done
  stop_orthanc
  stop_bastion
  touch "$sdir/fill.done"
}

# ---------------------------------------------------------------- queries
# Study Root, STUDY level; the same return keys for every shape and server
# (what a study list on a workstation asks for).
RETURN_KEYS=(PatientName PatientID PatientBirthDate PatientSex StudyInstanceUID StudyDate StudyTime
  AccessionNumber StudyID StudyDescription ReferringPhysicianName ModalitiesInStudy
  NumberOfStudyRelatedSeries NumberOfStudyRelatedInstances)

write_shapes() {  # write_shapes DIR OUT: one line per shape: name<TAB>key=value
  local d=$1 out=$2 n mid file pid acc
  n=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["studies"])' "$d/set.json")
  mid=$(printf 'STUDY%04d' $((n / 2)))
  file=$(find "$d/set/$mid" -type f -name '*.dcm' | sort | head -n 1)
  pid=$(dcmdump +P PatientID "$file" | sed -n 's/.*\[\(.*\)\].*/\1/p')
  acc=$(dcmdump +P AccessionNumber "$file" | sed -n 's/.*\[\(.*\)\].*/\1/p')
  {
    printf 'patient_id\tPatientID=%s\n' "$pid"
    printf 'name_wildcard\tPatientName=SMITH*\n'
    printf 'accession\tAccessionNumber=%s\n' "$acc"
    printf 'date_month\tStudyDate=20200301-20200331\n'
    printf 'modality_mr\tModalitiesInStudy=MR\n'
    printf 'universal\tPatientName=*\n'
  } >"$out"
}

# ---------------------------------------------------------------- main
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
MEASURED=()
for n in ${SIZES//,/ }; do
  D="$CACHE/s$n-i$MAX_INST-seed$SEED"
  if [ "$REFILL" = 1 ]; then log "--refill: dropping $D"; rm -rf "$D"; fi
  mkdir -p "$D"
  prepare_set "$D" "$n"
  fill bastion "$D" || die "filling Bastion ($n studies) failed; rerun to resume"
  fill orthanc "$D" || die "filling Orthanc ($n studies) failed; rerun to resume"
  [ "$FILL_ONLY" = 1 ] && continue

  log "size $n: starting both servers on the filled catalogs"
  start_bastion "$D/bastion" || die "bastion did not start on $D/bastion (a catalog from an older schema? --refill)"
  start_orthanc "$D/orthanc" || die "orthanc did not start on $D/orthanc"
  counts="bastion: $(bastion_count "$D/bastion" studies) studies, $(bastion_count "$D/bastion" instances) instances; orthanc: $(orthanc_count Studies) studies, $(orthanc_count Instances) instances"
  log "size $n: $counts"
  write_shapes "$D" "$WORK/shapes-$n.tsv"
  OUT_RAW="$WORK/raw-$n.json"
  "$PY" "$BENCH_DIR/query_report.py" measure \
    --size "$n" --shapes "$WORK/shapes-$n.tsv" --return-keys "$(IFS=,; echo "${RETURN_KEYS[*]}")" \
    --server "bastion:BASTION:$BASTION_PLAIN" --server "orthanc:ORTHANC:$ORTHANC_DICOM" \
    --runs "$RUNS" --warmup "$WARMUP" --budget "$SHAPE_BUDGET" --out "$OUT_RAW" \
    --set "$D/set.json" --fill "bastion:$D/bastion" --fill "orthanc:$D/orthanc" \
    --counts "$counts" --findlat "$FINDLAT_BIN" \
    --bastion-rss "$(awk '/^VmHWM:/ { print $2 }' "/proc/$BASTION_PID/status")" \
    --orthanc-rss "$(awk '/^VmHWM:/ { print $2 }' "/proc/$ORTHANC_PID/status")"
  MEASURED+=(--raw "$OUT_RAW")
  stop_bastion
  stop_orthanc
done
[ "$FILL_ONLY" = 1 ] && { log "fill done (--fill-only)"; exit 0; }

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
mkdir -p "$BENCH_DIR/results"
OUT_JSON="$BENCH_DIR/results/query-$STAMP.json"
"$PY" "$BENCH_DIR/query_report.py" report "${MEASURED[@]}" --out "$OUT_JSON" \
  --started "$STARTED" --load "$LOAD_START" --load "$LOAD_END" \
  --args "${ORIG_ARGS[*]:-}" --bastion-fill "$BASTION_FILL" --assoc "$ASSOC" \
  --orthanc-limit "$ORTHANC_LIMIT" \
  --orthanc-version "$("$ORTHANC_BIN" --version 2>/dev/null | head -n 1)" \
  --bastion-version "$("$BASTION_BIN" --version 2>/dev/null | head -n 1) (sha256 $BASTION_SHA256...)" \
  --dcmtk-version "$(findscu --version 2>/dev/null | head -n 1 | tr -d '$')" \
  --git "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+dirty')"
log "results written to $OUT_JSON"
