#!/usr/bin/env bash
# berth's client (pull, push) vs skopeo and podman, same machine, same run. A 1 GiB image of 4
# random 256 MiB gzip layers is pushed into a berth registry; then each client pulls it into a
# cold local store, and pushes it to a fresh berth registry, best of RUNS. Only 127.0.0.1 is
# used; everything it creates lives in one temp dir that is removed on exit. See bench/README.md.
set -euo pipefail

cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null || { echo "missing: $1 (see shared/PEERS.md)" >&2; exit 1; }; }
for t in cargo curl skopeo openssl awk tar gzip jq; do need "$t"; done

LAYER_MIB=${LAYER_MIB:-256}      # 4 layers of this size make the image
RUNS=${RUNS:-3}                  # best of RUNS

echo "== building berth (release)" >&2
cargo build --release -p berth >&2
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
BERTH="$TARGET_DIR/release/berth"
[ -x "$BERTH" ] || { echo "no $BERTH" >&2; exit 1; }

TMP=$(mktemp -d /tmp/berth-client-bench.XXXXXX)
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
sha() { echo "sha256:$(openssl dgst -sha256 -r "$1" | cut -d' ' -f1)"; }
best() { printf '%s\n' "$@" | sort -g | head -1; }

wait_v2() { # URL: wait until GET /v2/ answers 200
  local i
  for i in $(seq 1 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/v2/")" = 200 ] && return 0
    sleep 0.1
  done
  echo "server at $1 did not come up" >&2; return 1
}

# start_registry NAME: a berth registry on a free port with a fresh root under $TMP/NAME; sets
# REG_PID and REG_ADDR (127.0.0.1:PORT).
start_registry() {
  local dir="$TMP/$1" line="" i
  rm -rf "$dir"; mkdir -p "$dir"
  RUST_LOG=warn "$BERTH" registry serve --addr 127.0.0.1:0 --root "$dir/data" \
    >"$dir/out" 2>"$dir/log" &
  REG_PID=$!; PIDS+=("$REG_PID")
  for i in $(seq 1 300); do
    line=$(grep -m1 '^berth registry listening on ' "$dir/out" 2>/dev/null || true)
    [ -n "$line" ] && break
    sleep 0.1
  done
  [ -n "$line" ] || { cat "$dir/log" >&2; echo "berth registry did not start" >&2; exit 1; }
  REG_ADDR=${line#berth registry listening on http://}
  wait_v2 "http://$REG_ADDR"
}

stop_registry() { # NAME PID
  kill "$2" 2>/dev/null || true; wait "$2" 2>/dev/null || true
  rm -rf "${TMP:?}/$1"
}

# The berth client with a private root, config and credentials (under $TMP/clients/NAME).
bclient() { # NAME ARGS...
  local home="$TMP/clients/$1"; shift
  mkdir -p "$home"; : >"$home/config.toml"
  BERTH_ROOT="$home/root" BERTH_CONFIG="$home/config.toml" XDG_CONFIG_HOME="$home/xdg" \
    DOCKER_CONFIG="$home/docker" RUST_LOG=warn "$BERTH" "$@"
}

# podman with its own root, runroot and tmpdir (vfs), and the containers.conf PEERS.md asks for.
PODMAN_CONF="$TMP/containers.conf"
cat >"$PODMAN_CONF" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]
[engine]
runtime = "runc"
EOF
pman() { # NAME ARGS...
  local d="$TMP/podman/$1"; shift
  mkdir -p "$d/root" "$d/run" "$d/tmp"
  CONTAINERS_CONF="$PODMAN_CONF" podman --root "$d/root" --runroot "$d/run" --tmpdir "$d/tmp" \
    --storage-driver vfs --cgroup-manager cgroupfs --events-backend file "$@"
}

# timed CMD...: run quietly, print seconds; "fail" when it fails (its stderr goes to the log).
timed() {
  local t0 t1
  t0=$(now)
  if "$@" >>"$TMP/tools.log" 2>&1; then t1=$(now); calc "$t1 - $t0" 3; else echo fail; fi
}

# best_of VAR: the best of the values in array VAR, or n/a when any run failed.
best_of() {
  local -n arr=$1
  case " ${arr[*]} " in *" fail "*) echo n/a ;; *) best "${arr[@]}" ;; esac
}

# ---------------------------------------------------------------------------------------------
echo "== generating a $((4 * LAYER_MIB)) MiB image in $TMP" >&2
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
read -r CFG_DG CFG_SZ < <(put_json "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/sh\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[$DIFFIDS_JSON]}}")
read -r MAN_DG MAN_SZ < <(put_json "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"$CFG_DG\",\"size\":$CFG_SZ},\"layers\":[$LAYERS_JSON]}")
printf '{"imageLayoutVersion":"1.0.0"}' >"$LAYOUT/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"big"}}]}' \
  "$MAN_DG" "$MAN_SZ" >"$LAYOUT/index.json"
rm -rf "$TMP/layers"
IMAGE_MIB=$(du -sm "$LAYOUT" | cut -f1)

start_registry source
SRC=$REG_ADDR
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$LAYOUT:big" "docker://$SRC/bench/img:big" >&2
IMG="$SRC/bench/img:big"

# ---------------------------------------------------------------------------------------------
HAVE_PODMAN=1
command -v podman >/dev/null || { HAVE_PODMAN=0; echo "   (podman not installed: n/a)" >&2; }

P_BERTH=(); P_SKOPEO=(); P_PODMAN=()
for run in $(seq 1 "$RUNS"); do
  echo "== pull $run/$RUNS" >&2
  rm -rf "$TMP/clients/pull"
  P_BERTH+=("$(timed bclient pull pull -q "$IMG")")
  [ "$(bclient pull inspect "$IMG" | jq -r '.[0].Descriptor.digest')" = "$MAN_DG" ] ||
    { echo "berth pulled the wrong manifest" >&2; exit 1; }
  rm -rf "$TMP/skopeo-pull"
  P_SKOPEO+=("$(timed skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$IMG" "oci:$TMP/skopeo-pull:big")")
  rm -rf "$TMP/skopeo-pull"
  if [ "$HAVE_PODMAN" = 1 ]; then
    rm -rf "$TMP/podman/pull"
    P_PODMAN+=("$(timed pman pull pull -q --tls-verify=false "docker://$IMG")")
  else
    P_PODMAN+=(fail)
  fi
done
# The last run's stores are the push sources: berth's store, skopeo's layout, podman's store.
rm -rf "$TMP/clients/pull"
bclient push pull -q "$IMG" >/dev/null
if [ "$HAVE_PODMAN" = 1 ]; then
  rm -rf "$TMP/podman/push"
  pman push pull -q --tls-verify=false "docker://$IMG" >>"$TMP/tools.log" 2>&1 || HAVE_PODMAN=0
fi

U_BERTH=(); U_SKOPEO=(); U_PODMAN=()
for run in $(seq 1 "$RUNS"); do
  echo "== push $run/$RUNS" >&2
  start_registry dest
  bclient push tag "$IMG" "$REG_ADDR/bench/img:big"
  U_BERTH+=("$(timed bclient push push -q "$REG_ADDR/bench/img:big")")
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "http://$REG_ADDR/v2/bench/img/manifests/$MAN_DG")" = 200 ] ||
    { echo "berth push did not land the manifest" >&2; exit 1; }
  bclient push rmi "$REG_ADDR/bench/img:big" >/dev/null
  stop_registry dest "$REG_PID"

  start_registry dest
  U_SKOPEO+=("$(timed skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$LAYOUT:big" "docker://$REG_ADDR/bench/img:big")")
  stop_registry dest "$REG_PID"

  if [ "$HAVE_PODMAN" = 1 ]; then
    start_registry dest
    U_PODMAN+=("$(timed pman push push -q --tls-verify=false "$IMG" "docker://$REG_ADDR/bench/img:big")")
    stop_registry dest "$REG_PID"
  else
    U_PODMAN+=(fail)
  fi
done

# ---------------------------------------------------------------------------------------------
pb=$(best_of P_BERTH); ps=$(best_of P_SKOPEO); pp=$(best_of P_PODMAN)
ub=$(best_of U_BERTH); us=$(best_of U_SKOPEO); up=$(best_of U_PODMAN)
ratio() { case "$1$2" in *n/a*) echo n/a ;; *) echo "$(calc "$1 / $2")x" ;; esac; }
verdict() { case "$1" in n/a) echo n/a ;; *) awk "BEGIN { print (${1%x} <= 0.7) ? \"ok\" : \"MISSED\" }" ;; esac; }
r_pull=$(ratio "$pb" "$ps"); r_push=$(ratio "$ub" "$us")

echo
echo "berth client vs skopeo $(skopeo --version | awk '{print $3}') and podman $(podman --version 2>/dev/null | awk '{print $3}'), ${IMAGE_MIB} MiB image (4 layers), $(nproc) cores, $(date -u +%F)"
printf '%-34s %9s %9s %9s %14s   %s\n' "wall time, s (best of $RUNS)" berth skopeo podman "berth/skopeo" "target"
printf '%-34s %9s %9s %9s %14s   %s\n' "----------------------------------" ----- ------ ------ ------------ ------
printf '%-34s %9s %9s %9s %14s   %s\n' "pull into a cold local store" "$pb" "$ps" "$pp" "$r_pull" "<= 0.7x: $(verdict "$r_pull")"
printf '%-34s %9s %9s %9s %14s   %s\n' "push to a fresh berth registry" "$ub" "$us" "$up" "$r_push" "<= 0.7x: $(verdict "$r_push")"
echo "all runs: pull berth ${P_BERTH[*]} | skopeo ${P_SKOPEO[*]} | podman ${P_PODMAN[*]}"
echo "          push berth ${U_BERTH[*]} | skopeo ${U_SKOPEO[*]} | podman ${U_PODMAN[*]}"
