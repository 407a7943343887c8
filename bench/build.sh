#!/usr/bin/env bash
# Build speed: a 10-instruction, two-stage Dockerfile (WORKDIR, COPY of 1,000 files, RUN, COPY
# --from, ENV, LABEL, CMD) built cold (--no-cache, base image local) and cached, by berth and by
# buildah (`buildah bud --layers`, overlay storage, chroot isolation), median of N runs each.
# Needs root, busybox-static and buildah; only local files, no network. Prints one table.
set -euo pipefail
N=${N:-5}
cd "$(dirname "$0")/.."
cargo build --release -q -p berth
BERTH=$PWD/target/release/berth
TMP=$(mktemp -d /tmp/berth-bench-build.XXXXXX)
BA=(buildah --root "$TMP/broot" --runroot "$TMP/brun" --storage-driver "${BUILDAH_DRIVER:-overlay}")
cleanup() { "${BA[@]}" rm --all >/dev/null 2>&1 || true; umount -R "$TMP/broot" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
export BERTH_ROOT=$TMP/root BERTH_CONFIG=$TMP/config.toml DOCKER_CONFIG=$TMP/docker BERTH_DEFAULT_REGISTRY=127.0.0.1:9
: > "$BERTH_CONFIG"
mkdir -p "$TMP/docker" && echo "{}" > "$TMP/docker/config.json"
printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]\n[engine]\nruntime = "runc"\n' \
  > "$TMP/containers.conf"
export CONTAINERS_CONF=$TMP/containers.conf

mkdir -p "$TMP/rootfs/bin" && cp /bin/busybox "$TMP/rootfs/bin/"
for a in sh ls wc find cat; do ln -s busybox "$TMP/rootfs/bin/$a"; done
tar -C "$TMP/rootfs" -cf "$TMP/rootfs.tar" .
"$BERTH" import "$TMP/rootfs.tar" bb:1 >/dev/null
"$BERTH" save --format oci -o "$TMP/bb.tar" bb:1
"${BA[@]}" pull -q "oci-archive:$TMP/bb.tar" >/dev/null

mkdir -p "$TMP/ctx/files"
for i in $(seq 1000); do echo "file $i" > "$TMP/ctx/files/f$i"; done
cat > "$TMP/ctx/Dockerfile" <<'DOCKERFILE'
FROM 127.0.0.1:9/library/bb:1 AS builder
WORKDIR /src
COPY files/ ./files/
RUN find /src/files -type f | wc -l > /count && cat /src/files/f1 > /first
FROM 127.0.0.1:9/library/bb:1
ENV APP=bench
WORKDIR /app
COPY --from=builder /count /first ./
COPY files/ ./data/
RUN ls /app/data | wc -l > /app/n
LABEL bench=1
CMD ["cat", "/app/n"]
DOCKERFILE

# median CMD...: runs CMD N times, prints the median wall time in ms
median() {
  local times=()
  for _ in $(seq "$N"); do
    local t0 t1
    t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.0f", m/1000}'
}

"$BERTH" build -q -t bench:1 "$TMP/ctx" >/dev/null
"${BA[@]}" bud --isolation chroot --layers -q -t bench:1 "$TMP/ctx" >/dev/null
berth_cold=$(median "$BERTH" build -q --no-cache -t bench:1 "$TMP/ctx")
berth_cached=$(median "$BERTH" build -q -t bench:1 "$TMP/ctx")
buildah_cold=$(median "${BA[@]}" bud --isolation chroot --layers --no-cache -q -t bench:1 "$TMP/ctx")
buildah_cached=$(median "${BA[@]}" bud --isolation chroot --layers -q -t bench:1 "$TMP/ctx")
printf '%-10s %10s %10s\n' "" "cold ms" "cached ms"
printf '%-10s %10s %10s\n' berth "$berth_cold" "$berth_cached" buildah "$buildah_cold" "$buildah_cached"
awk -v a="$berth_cold" -v b="$buildah_cold" 'BEGIN { printf "berth/buildah cold: %.2fx (target <= 0.5x)\n", a / b }'
echo "berth cached rebuild: ${berth_cached} ms (target < 200 ms)"
