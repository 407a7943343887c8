#!/usr/bin/env bash
# The cost of berth's registry access control, same machine, same run: manifest HEAD and GET
# requests per second (wrk, 64 connections) on one data root served without auth, in token mode
# with a cached bearer token, and in basic mode; the same for CNCF Distribution 2.8 without auth
# and with htpasswd; token issue latency (p50/p99); and the server's RSS with 10 000 users and
# 100 000 grants. Only 127.0.0.1 is used; everything lives in one temp dir removed on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null || { echo "missing: $1 (see shared/PEERS.md)" >&2; exit 1; }; }
for t in cargo curl wrk docker-registry htpasswd python3 awk base64; do need "$t"; done

DUR=${DUR:-10}        # seconds per wrk run
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

serve none
NONE_HEAD=$(rps HEAD "$SRV_URL$MANIFEST" "$ACCEPT")
NONE_GET=$(rps GET "$SRV_URL$MANIFEST" "$ACCEPT")
stop

serve token
TOKEN=$(curl -sf -u "alice:$PASS" "$SRV_URL/token?service=berth-registry&scope=repository:library/hello-world:pull" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
TOK_HEAD=$(rps HEAD "$SRV_URL$MANIFEST" "$ACCEPT" "Authorization: Bearer $TOKEN")
TOK_GET=$(rps GET "$SRV_URL$MANIFEST" "$ACCEPT" "Authorization: Bearer $TOKEN")
# Token issue: Basic credentials (verified once, then cached) and one scope, 4 connections.
ISSUE=$(wrk -t1 -c4 -d"${DUR}s" --latency -H "Authorization: Basic $B64" \
  "$SRV_URL/token?service=berth-registry&scope=repository:library/hello-world:pull,push")
ISSUE_P50=$(awk '$1 == "50%" { print $2 }' <<<"$ISSUE")
ISSUE_P99=$(awk '$1 == "99%" { print $2 }' <<<"$ISSUE")
ISSUE_RPS=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' <<<"$ISSUE")
stop

serve basic
BASIC_HEAD=$(rps HEAD "$SRV_URL$MANIFEST" "$ACCEPT" "Authorization: Basic $B64")
stop

echo "== Distribution 2.8: without auth, then htpasswd (bcrypt cost 5, as htpasswd -B writes)" >&2
DROOT="$TMP/dist"; mkdir -p "$DROOT"
htpasswd -B -b -c "$TMP/htpasswd" alice "$PASS" 2>/dev/null
dist() { # AUTH_YAML: start Distribution; sets SRV_PID, SRV_URL
  local port; port=$(free_port)
  cat >"$TMP/dist.yml" <<YML
version: 0.1
log: { level: error }
storage: { filesystem: { rootdirectory: $DROOT }, delete: { enabled: true } }
http: { addr: 127.0.0.1:$port }
$1
YML
  docker-registry serve "$TMP/dist.yml" >>"$TMP/dist.log" 2>&1 &
  SRV_PID=$!; PIDS+=("$SRV_PID"); SRV_URL="http://127.0.0.1:$port"
  wait_up "$SRV_URL"
}
# The sample image, copied from berth's root: one manifest and its blobs.
serve none; BERTH_PID=$SRV_PID; BERTH_URL=$SRV_URL
dist ""
M=$(curl -sf -H "$ACCEPT" "$BERTH_URL$MANIFEST")
for d in $(python3 -c 'import json,sys; m=json.loads(sys.argv[1]); print(m["config"]["digest"]); [print(l["digest"]) for l in m["layers"]]' "$M"); do
  curl -sf "$BERTH_URL/v2/library/hello-world/blobs/$d" -o "$TMP/blob"
  LOC=$(curl -sf -X POST -D - -o /dev/null "$SRV_URL/v2/library/hello-world/blobs/uploads/" | awk 'tolower($1)=="location:" { print $2 }' | tr -d '\r')
  case "$LOC" in http*) ;; *) LOC="$SRV_URL$LOC" ;; esac
  SEP='?'; case "$LOC" in *\?*) SEP='&' ;; esac
  curl -sf -X PUT --data-binary @"$TMP/blob" -H 'Content-Type: application/octet-stream' "$LOC${SEP}digest=$d" -o /dev/null
done
curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "$M" "$SRV_URL$MANIFEST" -o /dev/null
kill "$BERTH_PID"; wait "$BERTH_PID" 2>/dev/null || true
DNONE_HEAD=$(rps HEAD "$SRV_URL$MANIFEST" "$ACCEPT")
stop
dist "auth: { htpasswd: { realm: bench, path: $TMP/htpasswd } }"
DBASIC_HEAD=$(rps HEAD "$SRV_URL$MANIFEST" "$ACCEPT" "Authorization: Basic $B64")
stop

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
BIG_HEAD=$(rps HEAD "$SRV_URL$MANIFEST" "$ACCEPT" "Authorization: Bearer $TOKEN")
stop

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f%%", (a / b - 1) * 100 }'; }
cat <<OUT
manifest requests/s (wrk, $CONNS connections, ${DUR}s each)
                                   HEAD       GET
berth, no auth                 $(printf '%8s  %8s' "$NONE_HEAD" "$NONE_GET")
berth, token (cached bearer)   $(printf '%8s  %8s' "$TOK_HEAD" "$TOK_GET")   auth overhead: HEAD $(pct "$TOK_HEAD" "$NONE_HEAD"), GET $(pct "$TOK_GET" "$NONE_GET") (target: within -10%)
berth, basic (cached creds)    $(printf '%8s' "$BASIC_HEAD")             vs no auth: $(pct "$BASIC_HEAD" "$NONE_HEAD")
Distribution 2.8, no auth      $(printf '%8s' "$DNONE_HEAD")
Distribution 2.8, htpasswd     $(printf '%8s' "$DBASIC_HEAD")             berth token / Distribution htpasswd: $(awk -v a="$TOK_HEAD" -v b="$DBASIC_HEAD" 'BEGIN { printf "%.1fx", a / b }')
token issue (GET /token, Basic, 4 connections): p50 $ISSUE_P50, p99 $ISSUE_P99, $ISSUE_RPS/s
server RSS after start: $RSS_SMALL KiB with 1 user; $RSS_BIG KiB with $USERS users and $((USERS * GRANTS)) grants (HEAD with token then: $BIG_HEAD/s)
OUT
