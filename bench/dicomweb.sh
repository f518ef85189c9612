#!/usr/bin/env bash
# bench/dicomweb.sh — DICOMweb: QIDO-RS study search latency on large
# catalogs and WADO-RS retrieval throughput, Bastion and Orthanc (with its
# DICOMweb plugin) side by side, in one run.
#
# QIDO: starts both servers on the catalogs bench/query.sh built and cached
# (bench/results/query-cache/s<N>-i<M>-seed<S>; missing ones are filled by
# running `bench/query.sh --fill-only` first), and times study-level searches
# of the shapes a viewer's study list sends (limit=101, includefield) over one
# keep-alive connection per server: Bastion over plain HTTP on loopback and
# over HTTPS, both with a bearer token; Orthanc over HTTP with HTTP Basic auth.
# WADO: stores one set of 512x512 16-bit CT studies (bastion-synth) into a
# fresh Bastion and a fresh Orthanc over DICOM (storescu), then times whole
# study, instance, frame and series-metadata retrievals.
# Everything runs inside a private network namespace that has only `lo`
# (Orthanc 1.10 binds every interface). See bench/README.md.
#
# Usage: bench/dicomweb.sh [--catalogs LIST] [--only qido|wado] [--runs N]
#                          [--warmup N] [--shape-budget S] [--no-https]
#                          [--wado-studies N] [--wado-series N]
#                          [--wado-instances N] [--study-runs N]
#                          [--item-runs N] [--meta-runs N]
#                          [--time-limit S] [--keep] [--build]
set -euo pipefail

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
BENCH_DIR=$(dirname "$SCRIPT")
ROOT=$(dirname "$BENCH_DIR")
PY=${PYTHON:-/usr/bin/python3}

usage() {
  cat <<'EOF'
usage: bench/dicomweb.sh [options]

  --catalogs LIST     cached catalogs of bench/query.sh to search, by cache
                      name s<studies>-i<max instances>-seed<seed>,
                      comma-separated (default
                      s10000-i10-seed31,s100000-i19-seed31); a missing one is
                      built by `bench/query.sh --fill-only` first (100k
                      studies with up to 19 instances: hours on 2 cores)
  --only WHAT         qido or wado (default: both)
  --runs N            timed QIDO requests per shape and server (default 50)
  --warmup N          untimed requests first (default 3)
  --shape-budget S    stop a shape's timed runs for one server once they took
                      S seconds in total (at least 3 runs; default 60)
  --no-https          leave out Bastion over HTTPS
  --wado-studies N    WADO set: studies (default 3)
  --wado-series N     series per study (default 2)
  --wado-instances N  512x512 CT images per series (default 40)
  --study-runs N      whole-study retrievals per server (default 15)
  --item-runs N       instance and frame retrievals per server (default 200)
  --meta-runs N       series metadata requests per server (default 30)
  --time-limit S      hard limit for the whole bench (default 5400)
  --keep              keep the temporary directory (for debugging)
  --build             run `cmake --build` of the binaries' build directory
                      first even if they exist

Environment: BASTION_BIN (default build-rel/src/cli/bastion if it exists,
else build/src/cli/bastion), BASTION_SYNTH_BIN (next to it:
tools/bastion-synth), PYTHON (default /usr/bin/python3), QUERY_CACHE (default
bench/results/query-cache), BENCH_TMPDIR (WADO data; default /var/tmp, a real
disk), ORTHANC_BIN (default /usr/sbin/Orthanc), ORTHANC_DICOMWEB (the plugin;
default from `dpkg -L orthanc-dicomweb`).
Results: tables on stdout and bench/results/dicomweb-<UTC time>.json.
EOF
}

die() { echo "dicomweb.sh: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# ---------------------------------------------------------------- options
CATALOGS="s10000-i10-seed31,s100000-i19-seed31"
ONLY=""
RUNS=50
WARMUP=3
SHAPE_BUDGET=60
HTTPS=1
W_STUDIES=3
W_SERIES=2
W_INSTANCES=40
STUDY_RUNS=15
ITEM_RUNS=200
META_RUNS=30
TIME_LIMIT=5400
KEEP=0
FORCE_BUILD=0
ORIG_ARGS=("$@")
need() { [ "$1" -ge 2 ] || { usage >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --catalogs) need $#; CATALOGS=$2; shift ;;
    --catalogs=*) CATALOGS=${1#*=} ;;
    --only) need $#; ONLY=$2; shift ;;
    --only=*) ONLY=${1#*=} ;;
    --runs) need $#; RUNS=$2; shift ;;
    --runs=*) RUNS=${1#*=} ;;
    --warmup) need $#; WARMUP=$2; shift ;;
    --warmup=*) WARMUP=${1#*=} ;;
    --shape-budget) need $#; SHAPE_BUDGET=$2; shift ;;
    --shape-budget=*) SHAPE_BUDGET=${1#*=} ;;
    --no-https) HTTPS=0 ;;
    --wado-studies) need $#; W_STUDIES=$2; shift ;;
    --wado-studies=*) W_STUDIES=${1#*=} ;;
    --wado-series) need $#; W_SERIES=$2; shift ;;
    --wado-series=*) W_SERIES=${1#*=} ;;
    --wado-instances) need $#; W_INSTANCES=$2; shift ;;
    --wado-instances=*) W_INSTANCES=${1#*=} ;;
    --study-runs) need $#; STUDY_RUNS=$2; shift ;;
    --study-runs=*) STUDY_RUNS=${1#*=} ;;
    --item-runs) need $#; ITEM_RUNS=$2; shift ;;
    --item-runs=*) ITEM_RUNS=${1#*=} ;;
    --meta-runs) need $#; META_RUNS=$2; shift ;;
    --meta-runs=*) META_RUNS=${1#*=} ;;
    --time-limit) need $#; TIME_LIMIT=$2; shift ;;
    --time-limit=*) TIME_LIMIT=${1#*=} ;;
    --keep) KEEP=1 ;;
    --build) FORCE_BUILD=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "dicomweb.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[[ "$CATALOGS" =~ ^(s[1-9][0-9]*-i[1-9][0-9]*-seed[0-9]+)(,s[1-9][0-9]*-i[1-9][0-9]*-seed[0-9]+)*$ ]] ||
  { echo "dicomweb.sh: --catalogs wants names like s10000-i10-seed31, comma-separated" >&2; exit 2; }
case "$ONLY" in ""|qido|wado) ;; *) echo "dicomweb.sh: --only wants qido or wado" >&2; exit 2 ;; esac
for v in RUNS SHAPE_BUDGET W_STUDIES W_SERIES W_INSTANCES STUDY_RUNS ITEM_RUNS META_RUNS TIME_LIMIT; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "dicomweb.sh: ${v,,} wants a positive integer" >&2; exit 2; }
done
[[ "$WARMUP" =~ ^[0-9]+$ ]] || { echo "dicomweb.sh: --warmup wants an integer" >&2; exit 2; }
[ $((W_STUDIES * W_SERIES * W_INSTANCES)) -le 5000 ] || { echo "dicomweb.sh: the WADO set is limited to 5000 images" >&2; exit 2; }

if [ -z "${BASTION_BIN:-}" ]; then
  if [ -x "$ROOT/build-rel/src/cli/bastion" ]; then BASTION_BIN=$ROOT/build-rel/src/cli/bastion
  else BASTION_BIN=$ROOT/build/src/cli/bastion; fi
fi
BUILD_DIR=$(dirname "$(dirname "$(dirname "$BASTION_BIN")")")
SYNTH_BIN=${BASTION_SYNTH_BIN:-$BUILD_DIR/tools/bastion-synth}
ORTHANC_BIN=${ORTHANC_BIN:-/usr/sbin/Orthanc}
CACHE=${QUERY_CACHE:-$BENCH_DIR/results/query-cache}
if [ -z "${ORTHANC_DICOMWEB:-}" ]; then
  ORTHANC_DICOMWEB=$(dpkg -L orthanc-dicomweb 2>/dev/null | grep -E '/libOrthancDicomWeb\.so(\.[0-9.]+)?$' | head -n 1 || true)
fi

# ------------------------------------------- outside: prepare, then re-exec
if [ "${_BASTION_BENCH_IN_NETNS:-}" != 1 ]; then
  for tool in storescu dcmdump ip ss unshare timeout curl mkfifo flock sqlite3 base64 "$PY"; do
    command -v "$tool" >/dev/null || die "missing tool '$tool' (scripts/install-deps.sh bench)"
  done
  [ -x "$ORTHANC_BIN" ] || die "missing $ORTHANC_BIN (Debian package orthanc; scripts/install-deps.sh bench)"
  [ -n "$ORTHANC_DICOMWEB" ] && [ -f "$ORTHANC_DICOMWEB" ] ||
    die "missing Orthanc's DICOMweb plugin (Debian package orthanc-dicomweb; scripts/install-deps.sh bench)"
  if [ "$FORCE_BUILD" = 1 ] || [ ! -x "$BASTION_BIN" ] || [ ! -x "$SYNTH_BIN" ]; then
    [ -f "$BUILD_DIR/CMakeCache.txt" ] ||
      die "no build directory at $BUILD_DIR: run 'cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release' in $ROOT first"
    log "building: cmake --build $BUILD_DIR --target bastion bastion-synth"
    cmake --build "$BUILD_DIR" --target bastion bastion-synth -j "$(nproc)" >&2
  fi
  [ -x "$BASTION_BIN" ] || die "no bastion binary at $BASTION_BIN (set BASTION_BIN)"
  [ -x "$SYNTH_BIN" ] || die "no bastion-synth binary at $SYNTH_BIN (set BASTION_SYNTH_BIN)"
  # Catalogs not cached yet: bench/query.sh builds them (it has its own namespace).
  if [ "$ONLY" != wado ]; then
    for c in ${CATALOGS//,/ }; do
      if [ ! -f "$CACHE/$c/bastion/fill.done" ] || [ ! -f "$CACHE/$c/orthanc/fill.done" ]; then
        [[ "$c" =~ ^s([0-9]+)-i([0-9]+)-seed([0-9]+)$ ]]
        log "catalog $c is not in $CACHE yet: bench/query.sh --fill-only builds it"
        QUERY_CACHE="$CACHE" BASTION_BIN="$BASTION_BIN" BASTION_SYNTH_BIN="$SYNTH_BIN" \
          BASTION_FINDLAT_BIN="${BASTION_FINDLAT_BIN:-$BUILD_DIR/tools/bastion-findlat}" \
          bash "$BENCH_DIR/query.sh" --sizes "${BASH_REMATCH[1]}" --max-instances "${BASH_REMATCH[2]}" \
          --seed "${BASH_REMATCH[3]}" --fill-only --time-limit "$TIME_LIMIT" ||
          die "filling $c with bench/query.sh failed; rerun to resume"
      fi
    done
  fi
  BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || true)
  export BASTION_BIN BASTION_SYNTH_BIN="$SYNTH_BIN" ORTHANC_DICOMWEB BUILD_TYPE _BASTION_BENCH_IN_NETNS=1
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

WORK=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/bastion-dwbench.XXXXXX")
PIDS=()

# Private copies of our binaries: a rebuild during the bench must not swap
# the server under it.
mkdir -p "$WORK/bin"
cp "$BASTION_BIN" "$WORK/bin/bastion"
cp "$BASTION_SYNTH_BIN" "$WORK/bin/bastion-synth"
BASTION_BIN="$WORK/bin/bastion"
SYNTH_BIN="$WORK/bin/bastion-synth"
BASTION_SHA256=$(sha256sum "$BASTION_BIN" | cut -c1-16)

STOP_GRACE=60
# stop_pid, forget_pid, cleanup (traps), the watchdog, wait_port, wait_line
source "$BENCH_DIR/lib.sh"
# ---------------------------------------------------------------- servers
ORTHANC_DICOM=4242
ORTHANC_HTTP=8042
BASTION_TLS=2762
BASTION_PLAIN=11112
BASTION_HTTPS=8443
BASTION_HTTP=8080
ORTHANC_PID=""
BASTION_PID=""
# Orthanc runs with authentication on (HTTP Basic, one registered user), as
# Bastion cannot run without it: both servers check credentials on every
# request. The password is random per run and never leaves the namespace.
ORTHANC_USER=bench
ORTHANC_PASS=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
ORTHANC_AUTH="Basic $(printf '%s:%s' "$ORTHANC_USER" "$ORTHANC_PASS" | base64 -w0)"

# start_orthanc CONFDIR STORAGEDIR DICOM(0|1): HTTP with the DICOMweb plugin;
# everything else at Orthanc's defaults (StorageAccessOnFind "Always",
# LimitFindResults 0, KeepAlive and TcpNoDelay on, 50 HTTP threads).
start_orthanc() {
  local c=$1 storage=$2 dicom=$3
  mkdir -p "$c"
  cat >"$c/orthanc.json" <<EOF
{
  "Name" : "bench",
  "StorageDirectory" : "$storage",
  "IndexDirectory" : "$storage",
  "Plugins" : [ "$ORTHANC_DICOMWEB" ],
  "DicomWeb" : { "Enable" : true, "Root" : "/dicom-web/", "EnableWado" : false, "Host" : "127.0.0.1", "Ssl" : false },
  "DicomServerEnabled" : $([ "$dicom" = 1 ] && echo true || echo false),
  "DicomAet" : "ORTHANC",
  "DicomPort" : $ORTHANC_DICOM,
  "DicomCheckCalledAet" : false,
  "HttpServerEnabled" : true,
  "HttpPort" : $ORTHANC_HTTP,
  "RemoteAccessAllowed" : false,
  "AuthenticationEnabled" : true,
  "RegisteredUsers" : { "$ORTHANC_USER" : "$ORTHANC_PASS" }
}
EOF
  "$ORTHANC_BIN" "$c/orthanc.json" >"$c/server.log" 2>&1 </dev/null &
  ORTHANC_PID=$!
  PIDS+=("$ORTHANC_PID")
  if ! wait_port "$ORTHANC_HTTP" "$ORTHANC_PID" 600 ||
     { [ "$dicom" = 1 ] && ! wait_port "$ORTHANC_DICOM" "$ORTHANC_PID" 60; }; then
    tail -n 20 "$c/server.log" >&2
    return 1
  fi
  # Ready when the plugin answers (it registers its routes at start-up).
  local i
  for ((i = 0; i < 600; i++)); do
    if curl -s -o /dev/null -w '%{http_code}' --max-time 60 -H "Authorization: $ORTHANC_AUTH" \
         "http://127.0.0.1:$ORTHANC_HTTP/dicom-web/studies?limit=1" | grep -q -E '^(200|204)$'; then
      return 0
    fi
    sleep 0.5
  done
  log "orthanc: /dicom-web does not answer"
  tail -n 20 "$c/server.log" >&2
  return 1
}

stop_orthanc() {
  [ -n "$ORTHANC_PID" ] || return 0
  stop_pid "$ORTHANC_PID" 120
  forget_pid "$ORTHANC_PID"
  ORTHANC_PID=""
}

orthanc_count() {  # orthanc_count Instances|Studies
  curl -s --max-time 60 -H "Authorization: $ORTHANC_AUTH" "http://127.0.0.1:$ORTHANC_HTTP/statistics" |
    "$PY" -c "import json,sys; print(json.load(sys.stdin)['Count$1'])" 2>/dev/null || echo "?"
}

# init_bastion DIR: a data directory with HTTPS on 127.0.0.1:8443, plain HTTP
# on 127.0.0.1:8080, node BENCH (echo, store, find), and a reader "bench"
# whose API token goes to DIR/token.
init_bastion() {
  local d=$1
  rm -rf "$d"
  mkdir -p "$(dirname "$d")"
  "$BASTION_BIN" init --data "$d" --tls-port "$BASTION_TLS" --plain-port "$BASTION_PLAIN" \
    --https-bind 127.0.0.1 --https-port "$BASTION_HTTPS" >"$d.init.log" 2>&1 ||
    { cat "$d.init.log" >&2; return 1; }
  grep -q '^http_listen = \[\]$' "$d/bastion.toml" || { log "bastion.toml has no 'http_listen = []' line"; return 1; }
  sed -i "s/^http_listen = \[\]\$/http_listen = [\"127.0.0.1:$BASTION_HTTP\"]/" "$d/bastion.toml"
  "$BASTION_BIN" node add --data "$d" --ae BENCH --host 127.0.0.1 --allow echo,store,find \
    >>"$d.init.log" 2>&1 || { cat "$d.init.log" >&2; return 1; }
  head -c 24 /dev/urandom | base64 | "$BASTION_BIN" user add --data "$d" bench --role reader --password-stdin \
    >>"$d.init.log" 2>&1 || { cat "$d.init.log" >&2; return 1; }
  "$BASTION_BIN" token create --data "$d" --user bench --expires 1d --note dicomweb-bench >"$d.token" \
    2>>"$d.init.log" || { cat "$d.init.log" >&2; return 1; }
  [ -s "$d.token" ] || { log "bastion token create printed nothing"; return 1; }
}

start_bastion() {  # start_bastion DIR
  local d=$1
  env -u TCP_NODELAY "$BASTION_BIN" serve --data "$d" >"$d.serve.out" 2>"$d.server.log" </dev/null &
  BASTION_PID=$!
  PIDS+=("$BASTION_PID")
  if ! wait_line "$d.serve.out" '^ready:' "$BASTION_PID" 900; then
    echo "bastion serve did not print 'ready:'; stdout:" >&2
    cat "$d.serve.out" >&2
    echo "stderr (last lines):" >&2
    tail -n 20 "$d.server.log" >&2
    return 1
  fi
}

stop_bastion() {
  [ -n "$BASTION_PID" ] || return 0
  stop_pid "$BASTION_PID" 120
  forget_pid "$BASTION_PID"
  BASTION_PID=""
}

# servers_json OUT: the servers the Python client talks to
servers_json() {
  local out=$1 token
  token=$(tr -d '\n' <"$BDIR.token")
  {
    echo "["
    printf '  {"name": "bastion-http", "label": "Bastion, HTTP on loopback, bearer token", "scheme": "http", "host": "127.0.0.1", "port": %d, "root": "/dicom-web", "auth": "Bearer %s"},\n' "$BASTION_HTTP" "$token"
    if [ "$HTTPS" = 1 ]; then
      printf '  {"name": "bastion-https", "label": "Bastion, HTTPS, bearer token", "scheme": "https", "host": "127.0.0.1", "port": %d, "root": "/dicom-web", "auth": "Bearer %s", "cafile": "%s"},\n' "$BASTION_HTTPS" "$token" "$BDIR/tls/ca.pem"
    fi
    printf '  {"name": "orthanc", "label": "Orthanc + DICOMweb plugin, HTTP, Basic auth", "scheme": "http", "host": "127.0.0.1", "port": %d, "root": "/dicom-web", "auth": "%s"}\n' "$ORTHANC_HTTP" "$ORTHANC_AUTH"
    echo "]"
  } >"$out"
  chmod 600 "$out"
}

rss_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# ---------------------------------------------------------------- QIDO
# Shapes: those of bench/query.sh's C-FIND bench, as QIDO parameters, plus
# what a viewer's study list sends with no filter and OHIF's "contains" name
# search. Every request also carries the common part (limit=101 and OHIF's
# includefield; see dicomweb_report.py --common).
write_shapes() {  # write_shapes CATALOGDIR OUT
  local d=$1 out=$2 n mid file pid acc
  n=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["studies"])' "$d/set.json")
  mid=$(printf 'STUDY%04d' $((n / 2)))
  file=$(find "$d/set/$mid" -type f -name '*.dcm' | sort | head -n 1)
  pid=$(dcmdump +P PatientID "$file" | sed -n 's/.*\[\(.*\)\].*/\1/p')
  acc=$(dcmdump +P AccessionNumber "$file" | sed -n 's/.*\[\(.*\)\].*/\1/p')
  {
    printf 'patient_id\tPatientID=%s\n' "$pid"
    printf 'name_prefix\tPatientName=SMITH*\n'
    printf 'name_contains\tPatientName=*SMITH*\n'
    printf 'accession\tAccessionNumber=%s\n' "$acc"
    printf 'date_month\tStudyDate=20200301-20200331\n'
    printf 'modality_mr\tModalitiesInStudy=MR\n'
    printf 'no_filter\t\n'
  } >"$out"
}

# qido_catalog NAME: both servers on one cached catalog, then the searches
qido_catalog() {
  local c=$1 D="$CACHE/$1" n
  [ -f "$D/bastion/fill.done" ] && [ -f "$D/orthanc/fill.done" ] || die "catalog $D is not filled"
  n=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["studies"])' "$D/set.json")
  # Bastion: a data directory of our own (config, TLS, users, token, audit
  # log) whose catalog/ and blobs/ are symlinks to the cached ones. The
  # cached catalog is opened read-write by the server (SQLite WAL, as
  # bench/query.sh does), nothing is stored; the searches' audit records go
  # to our own audit log. The cache's serve lock is held meanwhile, so a
  # bench/query.sh run cannot open the same catalog at the same time.
  BDIR="$WORK/qido-$c/bastion"
  init_bastion "$BDIR" || die "bastion init failed"
  rm -rf "$BDIR/catalog" "$BDIR/blobs"
  ln -s "$D/bastion/data/catalog" "$BDIR/catalog"
  ln -s "$D/bastion/data/blobs" "$BDIR/blobs"
  # Mirror the cache's clean-stop marker: without it serve scans every blob.
  if [ -f "$D/bastion/data/.clean-shutdown" ]; then touch "$BDIR/.clean-shutdown"; else rm -f "$BDIR/.clean-shutdown"; fi
  exec 9>>"$D/bastion/data/.serve.lock"
  flock -n 9 || die "another bastion serve holds $D/bastion/data (bench/query.sh running?)"
  log "$c: starting Bastion and Orthanc on the cached catalog"
  start_bastion "$BDIR" || die "bastion did not start on $BDIR (a catalog from an older schema? bench/query.sh --refill)"
  start_orthanc "$WORK/qido-$c/orthanc" "$D/orthanc/storage" 0 || die "orthanc did not start on $D/orthanc/storage"
  local b_st b_in o_st o_in
  b_st=$(sqlite3 -readonly "file:$D/bastion/data/catalog/catalog.db?mode=ro" "SELECT count(*) FROM studies" 2>/dev/null || echo "?")
  b_in=$(sqlite3 -readonly "file:$D/bastion/data/catalog/catalog.db?mode=ro" "SELECT count(*) FROM instances" 2>/dev/null || echo "?")
  o_st=$(orthanc_count Studies)
  o_in=$(orthanc_count Instances)
  log "$c: bastion $b_st studies, $b_in instances; orthanc $o_st studies, $o_in instances"
  write_shapes "$D" "$WORK/shapes-$c.tsv"
  servers_json "$WORK/servers-$c.json"
  local info
  info=$(printf '{"catalog": "%s", "studies": %s, "instances": %s, "bastion_counts": ["%s", "%s"], "orthanc_counts": ["%s", "%s"], "set": %s}' \
    "$c" "$n" "$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["instances"])' "$D/set.json")" \
    "$b_st" "$b_in" "$o_st" "$o_in" "$(cat "$D/set.json")")
  "$PY" "$BENCH_DIR/dicomweb_report.py" qido --servers "$WORK/servers-$c.json" --shapes "$WORK/shapes-$c.tsv" \
    --size "$n" --runs "$RUNS" --warmup "$WARMUP" --budget "$SHAPE_BUDGET" --info "$info" \
    --out "$WORK/raw-qido-$c.json" || die "QIDO measurement failed on $c"
  "$PY" - "$WORK/raw-qido-$c.json" "$(rss_kb "$BASTION_PID")" "$(rss_kb "$ORTHANC_PID")" <<'EOF'
import json, sys
p = sys.argv[1]
r = json.load(open(p))
r["info"]["peak_rss_kb"] = {"bastion": int(sys.argv[2] or 0), "orthanc": int(sys.argv[3] or 0)}
json.dump(r, open(p, "w"), indent=1)
EOF
  MEASURED+=(--raw "$WORK/raw-qido-$c.json")
  stop_bastion
  stop_orthanc
  exec 9>&-
}

# ---------------------------------------------------------------- WADO
store_set() {  # store_set NAME PORT AEC SETDIR
  local name=$1 port=$2 aec=$3 set=$4 files acked rc=0
  files=$(find "$set" -type f -name '*.dcm' | wc -l)
  env TCP_NODELAY=1 timeout 1800 storescu -v -aet BENCH -aec "$aec" -to 30 -ta 30 -ts 300 +sd +r \
    127.0.0.1 "$port" "$set" >"$WORK/store-$name.log" 2>&1 </dev/null || rc=$?
  acked=$(grep -c -E 'Received Store Response \((Success|Warning)' "$WORK/store-$name.log" || true)
  if [ "$rc" != 0 ] || [ "$acked" != "$files" ]; then
    log "storing into $name: storescu exit $rc, acked $acked of $files"
    grep -v '^XMIT' "$WORK/store-$name.log" | tail -n 8 >&2
    return 1
  fi
  log "$name: stored $files instances"
}

wado() {
  local set="$WORK/wado-set" bytes files
  log "WADO: generating $W_STUDIES studies x $W_SERIES series x $W_INSTANCES CT images 512x512 (16-bit)"
  "$SYNTH_BIN" --out "$set" --studies "$W_STUDIES" --series "$W_SERIES" --instances "$W_INSTANCES" \
    --rows 512 --cols 512 --modality CT --seed 41 >&2
  files=$(find "$set" -type f -name '*.dcm' | wc -l)
  bytes=$(du -sb --apparent-size "$set" | cut -f1)
  BDIR="$WORK/wado/bastion"
  init_bastion "$BDIR" || die "bastion init failed"
  start_bastion "$BDIR" || die "bastion did not start"
  start_orthanc "$WORK/wado/orthanc" "$WORK/wado/orthanc/storage" 1 || die "orthanc did not start"
  store_set bastion "$BASTION_PLAIN" BASTION "$set" || die "storing the WADO set into Bastion failed"
  store_set orthanc "$ORTHANC_DICOM" ORTHANC "$set" || die "storing the WADO set into Orthanc failed"
  # Both servers hold the files in the page cache now (just written): warm reads.
  servers_json "$WORK/servers-wado.json"
  "$PY" "$BENCH_DIR/dicomweb_report.py" wado --servers "$WORK/servers-wado.json" \
    --study-runs "$STUDY_RUNS" --item-runs "$ITEM_RUNS" --meta-runs "$META_RUNS" --warmup "$WARMUP" \
    --budget "$SHAPE_BUDGET" --out "$WORK/raw-wado.json" \
    --info "$(printf '{"set": {"studies": %d, "series_per_study": %d, "instances_per_series": %d, "files": %d, "bytes": %d, "generator": "bastion-synth --rows 512 --cols 512 --modality CT --seed 41", "transfer_syntax": "1.2.840.10008.1.2.1"}, "stored_by": "storescu +sd +r, one association, TCP_NODELAY=1"}' \
      "$W_STUDIES" "$W_SERIES" "$W_INSTANCES" "$files" "$bytes")" || die "WADO measurement failed"
  MEASURED+=(--raw "$WORK/raw-wado.json")
  stop_bastion
  stop_orthanc
}

# ---------------------------------------------------------------- main
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
MEASURED=()
if [ "$ONLY" != wado ]; then
  for c in ${CATALOGS//,/ }; do qido_catalog "$c"; done
fi
if [ "$ONLY" != qido ]; then wado; fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

mkdir -p "$BENCH_DIR/results"
OUT_JSON="$BENCH_DIR/results/dicomweb-$STAMP.json"
"$PY" "$BENCH_DIR/dicomweb_report.py" report "${MEASURED[@]}" --out "$OUT_JSON" \
  --started "$STARTED" --load "$LOAD_START" --load "$LOAD_END" --args "${ORIG_ARGS[*]:-}" \
  --bastion-version "$("$BASTION_BIN" --version 2>/dev/null | head -n 1) ($BUILD_TYPE build, sha256 $BASTION_SHA256...)" \
  --orthanc-version "$("$ORTHANC_BIN" --version 2>/dev/null | head -n 1)" \
  --dicomweb-version "$(dpkg-query -W -f='${Version}' orthanc-dicomweb 2>/dev/null || echo '?')" \
  --orthanc-config "defaults + DicomWeb plugin (Root /dicom-web/), AuthenticationEnabled true (HTTP Basic), RemoteAccessAllowed false" \
  --git "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+dirty')"
log "results written to $OUT_JSON"
