#!/usr/bin/env bash
# The cost of berth's registry access control, same machine, same run: manifest GET
# requests per second (wrk, 64 connections) on one data root served without auth, in token mode
# with a cached bearer token, and in basic mode; the same for CNCF Distribution 2.8 without auth
# and with htpasswd; token issue latency (p50/p99); and the server's RSS with 10 000 users and
# 100 000 grants. Only 127.0.0.1 is used; everything lives in one temp dir removed on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null || { echo "missing: $1 (see shared/PEERS.md)" >&2; exit 1; }; }
for t in cargo curl wrk docker-registry htpasswd python3 awk base64; do need "$t"; done

DUR=${DUR:-10}        # seconds per wrk run
ROUNDS=${ROUNDS:-3}   # alternating rounds (medians reported)
CONNS=${CONNS:-64}    # wrk connections
USERS=${USERS:-10000} # users in the memory test
GRANTS=${GRANTS:-10}  # grants per user in the memory test

echo "== building berth (release)" >&2
cargo build --release -p berth >&2
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
BERTH="$TARGET_DIR/release/berth"

TMP=$(mktemp -d /tmp/berth-bench-auth.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
kib() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }
wait_up() { # URL
  local i
  for i in $(seq 1 150); do
    curl -s -o /dev/null "$1/v2/" && return 0
    sleep 0.1
  done
  echo "server at $1 did not come up" >&2; return 1
}

ROOT="$TMP/berth"
PASS=bench-password-1
ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'
MANIFEST=/v2/library/hello-world/manifests/latest

# serve MODE: start berth on $ROOT in MODE; sets SRV_PID, SRV_URL.
serve() {
  local port; port=$(free_port)
  "$BERTH" registry serve --root "$ROOT" --addr "127.0.0.1:$port" --auth "$1" --samples \
    >"$TMP/serve.out" 2>>"$TMP/serve.log" &
  SRV_PID=$!; PIDS+=("$SRV_PID"); SRV_URL="http://127.0.0.1:$port"
  wait_up "$SRV_URL"
}
stop() { kill "$SRV_PID"; wait "$SRV_PID" 2>/dev/null || true; }

# rps METHOD URL [HEADER...]: requests/s of wrk, and fail when any answer was not 2xx.
rps() {
  local method=$1 url=$2; shift 2
  local script="$TMP/req.lua" args=() h out
  printf 'wrk.method = "%s"\n' "$method" >"$script"
  for h in "$@"; do args+=(-H "$h"); done
  out=$(wrk -t2 -c"$CONNS" -d"${DUR}s" -s "$script" "${args[@]}" "$url")
  if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx answers from $url:" >&2; echo "$out" >&2; exit 1; fi
  awk '/^Requests\/sec/ { printf "%.0f", $2 }' <<<"$out"
}

echo "== berth: one data root, an admin user, the sample image" >&2
mkdir -p "$ROOT"
echo "$PASS" | "$BERTH" registry user add alice --password-stdin --admin --root "$ROOT" >&2
B64=$(printf 'alice:%s' "$PASS" | base64 -w0)

# Every server runs at once (three berth modes on the one data root, Distribution without auth
# and with htpasswd on one storage directory), and the wrk runs alternate between them ROUNDS
# times: the medians compare like with like even when the machine is busy. (GET only: wrk waits
# for a body after a HEAD answer that has a Content-Length.)
serve none; NONE_URL=$SRV_URL
serve token; TOKEN_URL=$SRV_URL
serve basic; BASIC_URL=$SRV_URL
TOKEN=$(curl -sf -u "alice:$PASS" "$TOKEN_URL/token?service=berth-registry&scope=repository:library/hello-world:pull" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

echo "== Distribution 2.8: without auth, and with htpasswd (bcrypt, as htpasswd -B writes)" >&2
DROOT="$TMP/dist"; mkdir -p "$DROOT"
htpasswd -B -b -c "$TMP/htpasswd" alice "$PASS" 2>/dev/null
dist() { # NAME AUTH_YAML: start Distribution; sets SRV_PID, SRV_URL
  local port; port=$(free_port)
  cat >"$TMP/$1.yml" <<YML
version: 0.1
log: { level: error }
storage: { filesystem: { rootdirectory: $DROOT }, delete: { enabled: true } }
http: { addr: 127.0.0.1:$port }
$2
YML
  docker-registry serve "$TMP/$1.yml" >>"$TMP/dist.log" 2>&1 &
  SRV_PID=$!; PIDS+=("$SRV_PID"); SRV_URL="http://127.0.0.1:$port"
  wait_up "$SRV_URL"
}
dist plain ""; DIST_URL=$SRV_URL
dist htpasswd "auth: { htpasswd: { realm: bench, path: $TMP/htpasswd } }"; DISTB_URL=$SRV_URL
# The sample image, copied from berth: one manifest and its blobs.
M=$(curl -sf -H "$ACCEPT" "$NONE_URL$MANIFEST")
for d in $(python3 -c 'import json,sys; m=json.loads(sys.argv[1]); print(m["config"]["digest"]); [print(l["digest"]) for l in m["layers"]]' "$M"); do
  curl -sf "$NONE_URL/v2/library/hello-world/blobs/$d" -o "$TMP/blob"
  LOC=$(curl -sf -X POST -D - -o /dev/null "$DIST_URL/v2/library/hello-world/blobs/uploads/" | awk 'tolower($1)=="location:" { print $2 }' | tr -d '\r')
  case "$LOC" in http*) ;; *) LOC="$DIST_URL$LOC" ;; esac
  SEP='?'; case "$LOC" in *\?*) SEP='&' ;; esac
  curl -sf -X PUT --data-binary @"$TMP/blob" -H 'Content-Type: application/octet-stream' "$LOC${SEP}digest=$d" -o /dev/null
done
curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "$M" "$DIST_URL$MANIFEST" -o /dev/null

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
declare -A R
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round of $ROUNDS" >&2
  R[none]+="$(rps GET "$NONE_URL$MANIFEST" "$ACCEPT") "
  R[token]+="$(rps GET "$TOKEN_URL$MANIFEST" "$ACCEPT" "Authorization: Bearer $TOKEN") "
  R[basic]+="$(rps GET "$BASIC_URL$MANIFEST" "$ACCEPT" "Authorization: Basic $B64") "
  R[dist]+="$(rps GET "$DIST_URL$MANIFEST" "$ACCEPT") "
  R[distb]+="$(rps GET "$DISTB_URL$MANIFEST" "$ACCEPT" "Authorization: Basic $B64") "
done
for k in none token basic dist distb; do
  printf -v "M_$k" '%s' "$(tr ' ' '\n' <<<"${R[$k]}" | grep . | median)"
done

# Token issue: Basic credentials (verified once, then cached) and one scope, 4 connections.
ISSUE=$(wrk -t1 -c4 -d"${DUR}s" --latency -H "Authorization: Basic $B64" \
  "$TOKEN_URL/token?service=berth-registry&scope=repository:library/hello-world:pull,push")
ISSUE_P50=$(awk '$1 == "50%" { print $2 }' <<<"$ISSUE")
ISSUE_P99=$(awk '$1 == "99%" { print $2 }' <<<"$ISSUE")
ISSUE_RPS=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' <<<"$ISSUE")
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
PIDS=()

echo "== memory: $USERS users, $((USERS * GRANTS)) grants" >&2
serve token
RSS_SMALL=$(kib "$SRV_PID")
stop
python3 - "$ROOT/v1/auth.db" "$USERS" "$GRANTS" <<'PY'
import sqlite3, sys, time
db, users, grants = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = sqlite3.connect(db)
h = c.execute("SELECT password_hash FROM users WHERE name = 'alice'").fetchone()[0]
now = int(time.time())
roles = ["reader", "writer", "maintainer"]
c.executemany("INSERT INTO users VALUES (?, ?, ?, ?)", ((f"user{i:05}", h, now, now) for i in range(users)))
c.executemany("INSERT INTO grants VALUES (?, ?, ?, ?)",
              ((f"user{i:05}", roles[j % 3], f"team-{i % 500}/project-{j}/*", now)
               for i in range(users) for j in range(grants)))
c.commit()
PY
echo "$(date +%s%N)" >"$ROOT/v1/auth.version"
serve token
TOKEN=$(curl -sf -u "alice:$PASS" "$SRV_URL/token?service=berth-registry&scope=repository:library/hello-world:pull" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
curl -sf -o /dev/null -H "$ACCEPT" -H "Authorization: Bearer $TOKEN" "$SRV_URL$MANIFEST"
RSS_BIG=$(kib "$SRV_PID")
BIG_GET=$(rps GET "$SRV_URL$MANIFEST" "$ACCEPT" "Authorization: Bearer $TOKEN")
stop

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f%%", (a / b - 1) * 100 }'; }
cat <<OUT
manifest GET requests/s (wrk, $CONNS connections, ${DUR}s, median of $ROUNDS alternating rounds)
berth, no auth                 $(printf '%8s' "$M_none")   runs: ${R[none]}
berth, token (cached bearer)   $(printf '%8s' "$M_token")   runs: ${R[token]}  auth overhead: $(pct "$M_token" "$M_none") (target: no worse than -10%)
berth, basic (cached creds)    $(printf '%8s' "$M_basic")   runs: ${R[basic]}  vs no auth: $(pct "$M_basic" "$M_none")
Distribution 2.8, no auth      $(printf '%8s' "$M_dist")   runs: ${R[dist]}
Distribution 2.8, htpasswd     $(printf '%8s' "$M_distb")   runs: ${R[distb]}  berth token / Distribution htpasswd: $(awk -v a="$M_token" -v b="$M_distb" 'BEGIN { printf "%.1fx", a / b }')
token issue (GET /token, Basic, 4 connections, ${DUR}s): p50 $ISSUE_P50, p99 $ISSUE_P99, $ISSUE_RPS/s
server RSS after start: $RSS_SMALL KiB with 1 user; $RSS_BIG KiB with $USERS users and $((USERS * GRANTS)) grants (GET with token then: $BIG_GET/s)
OUT
