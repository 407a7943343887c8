#!/usr/bin/env bash
# berth's registry vs CNCF Distribution 2.8 (Debian's docker-registry), same machine, same run.
# Prints blob upload/download throughput, skopeo push/pull wall time of a 1 GiB image, and
# server RSS idle and under 64 concurrent uploads. Only 127.0.0.1 is used; everything it
# creates lives in one temp dir that is removed on exit. See bench/README.md.
set -euo pipefail

cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null || { echo "missing: $1 (see shared/PEERS.md)" >&2; exit 1; }; }
for t in cargo curl skopeo docker-registry openssl awk tar gzip; do need "$t"; done

BLOB_MIB=${BLOB_MIB:-512}        # size of the single-blob upload/download test
LAYER_MIB=${LAYER_MIB:-256}      # 4 layers of this size make the skopeo image
CONC=${CONC:-64}                 # concurrent uploads in the RSS test
CONC_MIB=${CONC_MIB:-100}        # size of each of those uploads
RUNS=${RUNS:-3}                  # best of RUNS for the blob tests

echo "== building berth (release)" >&2
cargo build --release -p berth >&2
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
BERTH="$TARGET_DIR/release/berth"
[ -x "$BERTH" ] || { echo "no $BERTH" >&2; exit 1; }

TMP=$(mktemp -d /tmp/berth-bench.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$2/status"; }   # kib VmRSS PID
sha() { echo "sha256:$(openssl dgst -sha256 -r "$1" | cut -d' ' -f1)"; }

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

wait_v2() { # URL: wait until GET /v2/ answers 200
  local i
  for i in $(seq 1 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/v2/")" = 200 ] && return 0
    sleep 0.1
  done
  echo "server at $1 did not come up" >&2; return 1
}

start_berth() { # sets BERTH_PID, BERTH_URL
  local dir="$TMP/berth" line="" i
  rm -rf "$dir"; mkdir -p "$dir"
  RUST_LOG=warn "$BERTH" registry serve --addr 127.0.0.1:0 --root "$dir/data" \
    >"$dir/out" 2>"$dir/log" &
  BERTH_PID=$!; PIDS+=("$BERTH_PID")
  for i in $(seq 1 300); do
    line=$(grep -m1 '^berth registry listening on ' "$dir/out" || true)
    [ -n "$line" ] && break
    sleep 0.1
  done
  [ -n "$line" ] || { cat "$dir/log" >&2; echo "berth did not start" >&2; exit 1; }
  BERTH_URL=${line#berth registry listening on }
  wait_v2 "$BERTH_URL"
}

start_dist() { # sets DIST_PID, DIST_URL
  local dir="$TMP/dist" port
  rm -rf "$dir"; mkdir -p "$dir"
  port=$(free_port)
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
  docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  DIST_PID=$!; PIDS+=("$DIST_PID")
  DIST_URL="http://127.0.0.1:$port"
  wait_v2 "$DIST_URL"
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# upload URL FILE DIGEST REPO: POST then a monolithic PUT ?digest= streaming the file; prints
# seconds of both.
upload() {
  local url=$1 file=$2 digest=$3 repo=$4 loc t0 t1 code
  t0=$(now)
  loc=$(curl -sS -o /dev/null -D - -X POST "$url/v2/$repo/blobs/uploads/" |
        awk 'tolower($1) == "location:" { sub(/\r$/, "", $2); print $2 }')
  [ -n "$loc" ] || { echo "POST $url/v2/$repo/blobs/uploads/ gave no Location" >&2; return 1; }
  case $loc in /*) loc="$url$loc" ;; esac
  case $loc in *\?*) loc="$loc&digest=$digest" ;; *) loc="$loc?digest=$digest" ;; esac
  # -T streams the file (--data-binary @file would first read it all into curl's memory);
  # an empty Expect header stops curl waiting for "100 Continue".
  code=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/octet-stream' \
         -H 'Expect:' -T "$file" "$loc")
  t1=$(now)
  [ "$code" = 201 ] || { echo "PUT $loc: HTTP $code" >&2; return 1; }
  calc "$t1 - $t0" 4
}

download() { # URL REPO DIGEST SIZE: prints seconds
  local out
  out=$(curl -sS -o /dev/null -w '%{http_code} %{size_download} %{time_total}' "$1/v2/$2/blobs/$3")
  set -- $out "$4"
  [ "$1" = 200 ] && [ "$2" = "$4" ] || { echo "download: HTTP $1, $2 bytes (want $4)" >&2; return 1; }
  echo "$3"
}

best() { printf '%s\n' "$@" | sort -g | head -1; }

# ---------------------------------------------------------------------------------------------
echo "== generating data in $TMP" >&2
BLOB="$TMP/blob.bin"
head -c "$((BLOB_MIB << 20))" /dev/urandom >"$BLOB"
BLOB_DIGEST=$(sha "$BLOB"); BLOB_SIZE=$(stat -c %s "$BLOB")
CBLOB="$TMP/conc.bin"
head -c "$((CONC_MIB * 1000 * 1000))" /dev/urandom >"$CBLOB"
CBLOB_DIGEST=$(sha "$CBLOB")

# A 4-layer OCI layout: each layer a gzip'd tar of LAYER_MIB random bytes.
LAYOUT="$TMP/layout"
mkdir -p "$LAYOUT/blobs/sha256" "$TMP/layers"
for i in 1 2 3 4; do
  (
    d="$TMP/layers/$i"; mkdir -p "$d"
    head -c "$((LAYER_MIB << 20))" /dev/urandom >"$d/random-$i.bin"
    tar -C "$d" -cf "$d.tar" "random-$i.bin"; rm -rf "$d"
    sha "$d.tar" >"$d.diffid"
    gzip -1 -n "$d.tar"
  ) &
done
wait
LAYERS_JSON=""; DIFFIDS_JSON=""
for i in 1 2 3 4; do
  f="$TMP/layers/$i.tar.gz"; dg=$(sha "$f")
  mv "$f" "$LAYOUT/blobs/sha256/${dg#sha256:}"
  LAYERS_JSON+="${LAYERS_JSON:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$dg\",\"size\":$(stat -c %s "$LAYOUT/blobs/sha256/${dg#sha256:}")}"
  DIFFIDS_JSON+="${DIFFIDS_JSON:+,}\"$(cat "$TMP/layers/$i.diffid")\""
done
put_json() { # JSON -> prints descriptor digest and size, stores the blob
  local f="$TMP/j.json" dg
  printf '%s' "$1" >"$f"; dg=$(sha "$f")
  mv "$f" "$LAYOUT/blobs/sha256/${dg#sha256:}"
  echo "$dg $(stat -c %s "$LAYOUT/blobs/sha256/${dg#sha256:}")"
}
read -r CFG_DG CFG_SZ < <(put_json "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[$DIFFIDS_JSON]}}")
read -r MAN_DG MAN_SZ < <(put_json "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"$CFG_DG\",\"size\":$CFG_SZ},\"layers\":[$LAYERS_JSON]}")
printf '{"imageLayoutVersion":"1.0.0"}' >"$LAYOUT/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"big"}}]}' \
  "$MAN_DG" "$MAN_SZ" >"$LAYOUT/index.json"
rm -rf "$TMP/layers"
IMAGE_MIB=$(du -sm "$LAYOUT" | cut -f1)

# ---------------------------------------------------------------------------------------------
declare -A UP DOWN PUSH PULL IDLE AFTER PEAK

bench_server() { # NAME URL PID
  local name=$1 url=$2 pid=$3 i s ups=() downs=() t0 t1 hostport=${2#http://} j
  IDLE[$name]=$(kib VmRSS "$pid")

  echo "== $name: ${BLOB_MIB} MiB blob upload x$RUNS" >&2
  for i in $(seq 1 "$RUNS"); do
    s=$(upload "$url" "$BLOB" "$BLOB_DIGEST" "bench/up$i"); ups+=("$s")
  done
  UP[$name]=$(calc "$BLOB_SIZE / 1e6 / $(best "${ups[@]}")" 1)
  echo "== $name: ${BLOB_MIB} MiB blob download x$RUNS" >&2
  for i in $(seq 1 "$RUNS"); do
    s=$(download "$url" "bench/up1" "$BLOB_DIGEST" "$BLOB_SIZE"); downs+=("$s")
  done
  DOWN[$name]=$(calc "$BLOB_SIZE / 1e6 / $(best "${downs[@]}")" 1)

  echo "== $name: skopeo push + pull of a ${IMAGE_MIB} MiB image" >&2
  t0=$(now)
  skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$LAYOUT:big" "docker://$hostport/bench/img:big" >&2
  t1=$(now); PUSH[$name]=$(calc "$t1 - $t0")
  t0=$(now)
  skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$hostport/bench/img:big" "oci:$TMP/pull-$name:big" >&2
  t1=$(now); PULL[$name]=$(calc "$t1 - $t0")
  [ "$(jq -r '.manifests[0].digest' "$TMP/pull-$name/index.json")" = "$MAN_DG" ] ||
    { echo "$name: pulled manifest digest differs" >&2; exit 1; }
  rm -rf "$TMP/pull-$name"
  AFTER[$name]=$(kib VmRSS "$pid")

  echo "== $name: $CONC concurrent ${CONC_MIB} MB uploads" >&2
  # Reset the peak-RSS counter so VmHWM covers only this phase.
  echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || echo "   (cannot reset VmHWM: peak covers the whole run)" >&2
  local jobs=()
  for j in $(seq 1 "$CONC"); do
    upload "$url" "$CBLOB" "$CBLOB_DIGEST" "bench/conc$j" >/dev/null & jobs+=($!)
  done
  for j in "${jobs[@]}"; do wait "$j" || { echo "$name: a concurrent upload failed" >&2; exit 1; }; done
  PEAK[$name]=$(kib VmHWM "$pid")
}

need jq
start_dist
start_berth
sleep 1
bench_server distribution "$DIST_URL" "$DIST_PID"
stop "$DIST_PID"; rm -rf "$TMP/dist"
bench_server berth "$BERTH_URL" "$BERTH_PID"
stop "$BERTH_PID"; rm -rf "$TMP/berth"

# ---------------------------------------------------------------------------------------------
mb() { calc "$1 / 1024" 1; }
verdict() { awk "BEGIN { print ($1) ? \"ok\" : \"MISSED\" }"; }
r_up=$(calc "${UP[berth]} / ${UP[distribution]}")
r_down=$(calc "${DOWN[berth]} / ${DOWN[distribution]}")
r_push=$(calc "${PUSH[distribution]} / ${PUSH[berth]}")
r_pull=$(calc "${PULL[distribution]} / ${PULL[berth]}")
r_peak=$(calc "${PEAK[berth]} / ${PEAK[distribution]}")

echo
echo "berth vs CNCF Distribution ($(docker-registry --version 2>/dev/null | awk '{print $3}')), $(nproc) cores, $(date -u +%F)"
printf '%-44s %14s %14s %9s   %s\n' "measure" "berth" "distribution" "ratio" "target"
printf '%-44s %14s %14s %9s   %s\n' "--------------------------------------------" "-----" "------------" "-----" "------"
printf '%-44s %14s %14s %9s   %s\n' "${BLOB_MIB} MiB blob upload, POST+PUT (MB/s, best/$RUNS)" \
  "${UP[berth]}" "${UP[distribution]}" "${r_up}x" ">= 4x: $(verdict "$r_up >= 4")"
printf '%-44s %14s %14s %9s   %s\n' "${BLOB_MIB} MiB blob download (MB/s, best/$RUNS)" \
  "${DOWN[berth]}" "${DOWN[distribution]}" "${r_down}x" ">= 0.9x: $(verdict "$r_down >= 0.9")"
printf '%-44s %14s %14s %9s   %s\n' "skopeo push ${IMAGE_MIB} MiB, 4 layers (s)" \
  "${PUSH[berth]}" "${PUSH[distribution]}" "${r_push}x" "(speed-up)"
printf '%-44s %14s %14s %9s   %s\n' "skopeo pull ${IMAGE_MIB} MiB, 4 layers (s)" \
  "${PULL[berth]}" "${PULL[distribution]}" "${r_pull}x" "(speed-up)"
printf '%-44s %14s %14s %9s   %s\n' "RSS idle after start (MB)" \
  "$(mb "${IDLE[berth]}")" "$(mb "${IDLE[distribution]}")" "" "berth < 10 MB: $(verdict "${IDLE[berth]} < 10240")"
printf '%-44s %14s %14s %9s   %s\n' "RSS after the tests above (MB)" \
  "$(mb "${AFTER[berth]}")" "$(mb "${AFTER[distribution]}")" "" ""
printf '%-44s %14s %14s %9s   %s\n' "peak RSS, $CONC x ${CONC_MIB} MB concurrent uploads (MB)" \
  "$(mb "${PEAK[berth]}")" "$(mb "${PEAK[distribution]}")" "${r_peak}x" "< 0.5x: $(verdict "$r_peak < 0.5")"
