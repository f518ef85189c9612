# Shared by the benchmark scripts (ingest.sh, query.sh, dicomweb.sh): stopping
# the processes they start, a watchdog that bounds the whole run, and waits
# for a server to be ready. Sourced after the script has defined log(), WORK
# (its scratch directory), KEEP, TIME_LIMIT (seconds), PIDS (an array) and,
# optionally, STOP_GRACE (seconds a server gets to stop at the end; 30).
# Installs the EXIT/INT/TERM traps and starts the watchdog.

stop_pid() {  # stop_pid PID [grace seconds]: TERM, bounded wait, then KILL
  local pid=$1 grace=${2:-30} i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not stop within ${grace}s after SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

forget_pid() {
  local pid=$1 p keep=()
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

cleanup() {
  local rc=$? p
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do stop_pid "$p" "${STOP_GRACE:-30}"; done
  if [ "$KEEP" = 1 ]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated (time limit of ${TIME_LIMIT}s reached?)"; exit 143' TERM

# Watchdog: bounds the whole run. It blocks in `read -t` on a FIFO nobody
# writes to (a timer, not a synchronisation) and sends us SIGTERM when the
# time is up; cleanup() then stops every process and removes WORK.
MAIN_PID=$$
mkfifo "$WORK/watchdog.fifo"
(
  exec 3<>"$WORK/watchdog.fifo"
  read -r -t "$TIME_LIMIT" -u 3 _ || kill -TERM "$MAIN_PID" 2>/dev/null
) &
PIDS+=($!)

wait_port() {  # wait_port PORT PID SECONDS: until something listens on PORT
  local port=$1 pid=$2 secs=$3 i
  for ((i = 0; i < secs * 10; i++)); do
    if ss -Hltn "sport = :$port" | grep -q .; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

wait_line() {  # wait_line FILE REGEX PID SECONDS: until FILE has a matching line
  local file=$1 re=$2 pid=$3 secs=$4 i
  for ((i = 0; i < secs * 10; i++)); do
    if grep -q -E "$re" "$file" 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

