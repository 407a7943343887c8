#!/usr/bin/env bash
# Garbage collection: berth online (`berth registry gc` beside a serving registry) vs CNCF
# Distribution 2.8's offline `docker-registry garbage-collect --delete-untagged`, on the same
# generated content (BLOBS blobs, MANIFESTS manifests in REPOS repositories, UNTAG_PCT % of the
# manifests untagged, and the blobs no manifest uses), same run. Prints GC wall time and peak
# RSS of each, what each removed, and pull latency from berth before and during its GC. Only
# 127.0.0.1 is used; everything lives in one temp dir removed on exit. See bench/README.md.
set -euo pipefail

cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null || { echo "missing: $1 (see shared/PEERS.md)" >&2; exit 1; }; }
for t in cargo curl jq python3 docker-registry awk; do need "$t"; done
[ -x /usr/bin/time ] || { echo "missing: /usr/bin/time (apt-get install time)" >&2; exit 1; }

BLOBS=${BLOBS:-100000}
MANIFESTS=${MANIFESTS:-10000}
REPOS=${REPOS:-100}
UNTAG_PCT=${UNTAG_PCT:-30}

echo "== building berth (release)" >&2
cargo build --release -p berth >&2
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
BERTH="$TARGET_DIR/release/berth"
[ -x "$BERTH" ] || { echo "no $BERTH" >&2; exit 1; }

TMP=$(mktemp -d /tmp/berth-gc-bench.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }

# ---------------------------------------------------------------------------------------------
# The content, written straight into both layouts. Per manifest: a config of its own, one of
# MANIFESTS/20 base layers (shared across manifests and repositories) and 8 layers of its own;
# the remaining blobs are linked into a repository but used by no manifest (abandoned pushes).
# UNTAG_PCT % of the manifests have no tag. Every time is two days old (past any grace period).
echo "== generating $BLOBS blobs and $MANIFESTS manifests in $REPOS repositories" >&2
python3 - "$TMP" "$BLOBS" "$MANIFESTS" "$REPOS" "$UNTAG_PCT" crates/registry/src/metadata/schema.sql <<'PY'
import hashlib, json, os, sqlite3, sys, time
tmp, n_blobs, n_man, n_repos, untag_pct, schema = sys.argv[1], *map(int, sys.argv[2:6]), sys.argv[6]
old = int(time.time()) - 2 * 86400
bases = max(1, n_man // 20)
dangling = n_blobs - n_man * 9 - bases
if dangling < 0:
    sys.exit(f"BLOBS must be at least 9 x MANIFESTS + MANIFESTS/20 ({n_man * 9 + bases})")
broot = f"{tmp}/berth/data/v1"
droot = f"{tmp}/dist/data/docker/registry/v2"
for d in ("blobs/sha256", "uploads", "tmp"):
    os.makedirs(f"{broot}/{d}", exist_ok=True)
db = sqlite3.connect(f"{broot}/metadata.db")
db.execute("PRAGMA journal_mode=WAL")
db.executescript(open(schema).read())
made = set()
def mkdirs(p):
    if p not in made:
        os.makedirs(p, exist_ok=True)
        made.add(p)
def write(path, data):
    mkdirs(os.path.dirname(path))
    with open(path, "wb") as f:
        f.write(data)
def store(data):  # the blob in both stores; its digest
    h = hashlib.sha256(data).hexdigest()
    p = f"{broot}/blobs/sha256/{h[:2]}/{h}"
    write(p, data)
    os.utime(p, (old, old))
    write(f"{droot}/blobs/sha256/{h[:2]}/{h}/data", data)
    return "sha256:" + h
def link(repo, digest, kind):  # Distribution's link files: _layers or _manifests/revisions
    write(f"{droot}/repositories/{repo}/{kind}/sha256/{digest[7:]}/link", digest.encode())
def desc(mt, digest, size):
    return {"mediaType": mt, "digest": digest, "size": size}
repo_of = lambda m: f"bench/r{m * n_repos // n_man:03d}"
base_blobs = []
for b in range(bases):
    data = (f"base layer {b} ".encode() * 8)
    base_blobs.append((store(data), len(data)))
links, mrows, refs, tags, samples = set(), [], [], [], []
for m in range(n_man):
    repo = repo_of(m)
    config = json.dumps({"architecture": "amd64", "os": "linux", "bench": m}).encode()
    cd = store(config)
    layers = [base_blobs[m % bases]]
    for k in range(8):
        data = f"layer {m}/{k} ".encode() * (6 + (m + k) % 10)
        layers.append((store(data), len(data)))
    body = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc("application/vnd.oci.image.config.v1+json", cd, len(config)),
        "layers": [desc("application/vnd.oci.image.layer.v1.tar", d, s) for d, s in layers],
    }, separators=(",", ":")).encode()
    md = store(body)
    for d, s in [(cd, len(config))] + layers:
        if (repo, d) not in links:
            links.add((repo, d))
            link(repo, d, "_layers")
            db.execute("INSERT INTO repository_blobs VALUES (?,?,?,?)", (repo, d, s, old))
        refs.append((repo, md, d, 0))
    mrows.append((repo, md, "application/vnd.oci.image.manifest.v1+json", len(body), None, None, None, old, old))
    link(repo, md, "_manifests/revisions")
    if m % 100 >= untag_pct:
        tag = f"t{m}"
        tags.append((repo, tag, md, old))
        write(f"{droot}/repositories/{repo}/_manifests/tags/{tag}/current/link", md.encode())
        write(f"{droot}/repositories/{repo}/_manifests/tags/{tag}/index/sha256/{md[7:]}/link", md.encode())
        if len(samples) < 200 and m % 7 == 0:
            samples.append(f"/v2/{repo}/manifests/{tag}")
            samples.append(f"/v2/{repo}/blobs/{cd}")
for i in range(dangling):
    repo = repo_of(i % n_man)
    data = f"abandoned upload {i} ".encode() * 5
    d = store(data)
    link(repo, d, "_layers")
    db.execute("INSERT INTO repository_blobs VALUES (?,?,?,?)", (repo, d, len(data), old))
db.executemany("INSERT OR IGNORE INTO repositories VALUES (?,?)",
               [(f"bench/r{r:03d}", old) for r in range(n_repos)])
db.executemany("INSERT INTO manifests (repo, digest, media_type, size, artifact_type, subject, "
               "annotations, created_at, pushed_at) VALUES (?,?,?,?,?,?,?,?,?)", mrows)
db.executemany("INSERT OR IGNORE INTO manifest_refs VALUES (?,?,?,?)", refs)
db.executemany("INSERT INTO tags VALUES (?,?,?,?)", tags)
db.commit()
db.close()
with open(f"{tmp}/samples", "w") as f:
    f.write("\n".join(samples) + "\n")
print(f"blobs: {len(base_blobs)} base, {n_man * 8} own layers, {n_man} configs, {dangling} unused; "
      f"{len(tags)} tagged of {n_man} manifests", file=sys.stderr)
PY

# ---------------------------------------------------------------------------------------------
# berth: a server on the data root, pulls in a loop, and `berth registry gc` beside it.
RUST_LOG=warn "$BERTH" registry serve --addr 127.0.0.1:0 --root "$TMP/berth/data" \
  >"$TMP/berth/out" 2>"$TMP/berth/log" &
BERTH_PID=$!; PIDS+=("$BERTH_PID")
for _ in $(seq 1 300); do
  line=$(grep -m1 '^berth registry listening on ' "$TMP/berth/out" || true)
  [ -n "$line" ] && break
  sleep 0.1
done
[ -n "$line" ] || { cat "$TMP/berth/log" >&2; echo "berth did not start" >&2; exit 1; }
URL=${line#berth registry listening on }

# pull_loop OUT: GET every sample URL (a kept manifest and its config) over and over, one curl
# (one connection) per round, until $TMP/stop exists; one "code seconds" line per request.
mapfile -t SAMPLES < "$TMP/samples"
pull_loop() {
  local args=() s
  for s in "${SAMPLES[@]}"; do args+=(-o /dev/null "$URL$s"); done
  while [ ! -e "$TMP/stop" ]; do
    curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
      -w '%{http_code} %{time_total}\n' "${args[@]}" >>"$1"
  done
}
stats() { # FILE: "n p50 p99 max" in ms, and how many answers were not 200
  awk '{ if ($1 != 200) bad++; print $2 * 1000 }' "$1" | sort -g |
    awk '{ v[NR] = $1 } END { printf "%d %.2f %.2f %.2f", NR, v[int(NR * 0.5) + 1], v[int(NR * 0.99) + 1], v[NR] }'
  echo " $(awk '$1 != 200' "$1" | wc -l)"
}

echo "== pull latency, no GC (3 s)" >&2
rm -f "$TMP/stop"; : >"$TMP/lat-idle"
pull_loop "$TMP/lat-idle" & LOOP=$!; PIDS+=("$LOOP")
sleep 3; touch "$TMP/stop"; wait "$LOOP" || true

echo "== berth registry gc --untagged (online, pulls going on)" >&2
rm -f "$TMP/stop"; : >"$TMP/lat-gc"
pull_loop "$TMP/lat-gc" & LOOP=$!; PIDS+=("$LOOP")
sleep 0.5
/usr/bin/time -v -o "$TMP/berth.time" "$BERTH" registry gc --root "$TMP/berth/data" --untagged \
  --json >"$TMP/berth.json"
touch "$TMP/stop"; wait "$LOOP" || true
echo "== scrub (every kept image whole)" >&2
"$BERTH" registry scrub --root "$TMP/berth/data" >"$TMP/scrub.out" 2>&1 ||
  { echo "scrub after GC found problems:" >&2; tail -5 "$TMP/scrub.out" >&2; exit 1; }
kill "$BERTH_PID"; wait "$BERTH_PID" 2>/dev/null || true

# ---------------------------------------------------------------------------------------------
echo "== docker-registry garbage-collect --delete-untagged (offline)" >&2
cat >"$TMP/dist/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $TMP/dist/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
EOF
/usr/bin/time -v -o "$TMP/dist.time" docker-registry garbage-collect --delete-untagged \
  "$TMP/dist/config.yml" >"$TMP/dist.out" 2>&1 || { tail -20 "$TMP/dist.out" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
secs() { # /usr/bin/time -v output: wall seconds
  awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$1"
}
rss_mb() { awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$1"; }
B_S=$(secs "$TMP/berth.time"); D_S=$(secs "$TMP/dist.time")
B_M=$(rss_mb "$TMP/berth.time"); D_M=$(rss_mb "$TMP/dist.time")
B_BLOBS=$(jq .summary.blobs "$TMP/berth.json"); B_MAN=$(jq .summary.manifests "$TMP/berth.json")
B_LINKS=$(jq .summary.links "$TMP/berth.json")
D_LINE=$(grep -Eo '[0-9]+ blobs marked, [0-9]+ blobs and [0-9]+ manifests eligible for deletion' "$TMP/dist.out" | tail -1)
D_BLOBS=$(echo "$D_LINE" | awk '{ print $4 }'); D_MAN=$(echo "$D_LINE" | awk '{ print $7 }')
read -r I_N I_50 I_99 I_MAX I_BAD <<<"$(stats "$TMP/lat-idle")"
read -r G_N G_50 G_99 G_MAX G_BAD <<<"$(stats "$TMP/lat-gc")"

printf '\nGC of %s blobs / %s manifests in %s repositories, %s%% untagged\n' "$BLOBS" "$MANIFESTS" "$REPOS" "$UNTAG_PCT"
printf '%-28s %16s %16s %10s\n' "" "berth (online)" "Distribution" "ratio"
printf '%-28s %16s %16s %10s\n' "GC wall time (s)" "$B_S" "$D_S" "$(calc "$B_S / $D_S")  (target <= 0.5)"
printf '%-28s %16s %16s %10s\n' "GC peak RSS (MB)" "$B_M" "$D_M" "$(calc "$B_M / $D_M")"
printf '%-28s %16s %16s\n' "blobs removed" "$B_BLOBS" "$D_BLOBS"
printf '%-28s %16s %16s\n' "manifests removed" "$B_MAN" "$D_MAN"
printf '%-28s %16s\n' "blob links removed" "$B_LINKS"
printf '%-28s %16s\n' "pulls before GC: n p50 p99 max ms (non-200)" "$I_N $I_50 $I_99 $I_MAX ($I_BAD)"
printf '%-28s %16s\n' "pulls during GC: n p50 p99 max ms (non-200)" "$G_N $G_50 $G_99 $G_MAX ($G_BAD)"
echo "(Distribution counts manifests among its blobs; berth counts manifest bytes among blobs too.)"
