#!/usr/bin/env bash
# Container start latency: `berth run --rm IMAGE true` (berth's own engine, and with --runtime runc)
# against `runc run` and `crun run` of a bundle with the same rootfs, and `podman run --rm`, median of
# N runs each; then `berth ps -a` with PS_CONTAINERS containers (a tenth of them running). Needs root,
# busybox-static, runc; crun and podman are optional. Only local files and no network are used.
# BERTH=path/to/berth measures another build (e.g. the one before a change) instead of building.
# Prints one table.
set -euo pipefail
N=${N:-30}
PS_CONTAINERS=${PS_CONTAINERS:-200}
cd "$(dirname "$0")/.."
if [ -z "${BERTH:-}" ]; then
  cargo build --release -q -p berth
  BERTH=$PWD/target/release/berth
fi
TMP=$(mktemp -d /tmp/berth-bench-rt.XXXXXX)
cleanup() {
  "$BERTH" ps -aq 2>/dev/null | xargs -r "$BERTH" rm -f >/dev/null 2>&1 || true
  umount "$TMP/hugetlb" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
export BERTH_ROOT=$TMP/root BERTH_CONFIG=$TMP/config.toml DOCKER_CONFIG=$TMP/docker BERTH_DEFAULT_REGISTRY=127.0.0.1:9
: > "$BERTH_CONFIG"

mkdir -p "$TMP/rootfs/bin" && cp /bin/busybox "$TMP/rootfs/bin/" && ln -s busybox "$TMP/rootfs/bin/true" && ln -s busybox "$TMP/rootfs/bin/sleep"
tar -C "$TMP/rootfs" -cf "$TMP/rootfs.tar" .
"$BERTH" import "$TMP/rootfs.tar" bench/bb:1 >/dev/null

# median CMD...: runs CMD N times, prints the median wall time in ms
median() {
  local times=()
  for _ in $(seq "$N"); do
    local t0 t1
    t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'
}

# An OCI bundle for runc/crun with the same rootfs.
mkdir -p "$TMP/bundle" && cp -a "$TMP/rootfs" "$TMP/bundle/rootfs"
(cd "$TMP/bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"\/bin\/true"/' config.json)
n=0
oci_run() { n=$((n + 1)); "$1" --root "$TMP/state-$1" run --bundle "$TMP/bundle" "bench$n"; }

berth_ms=$(median "$BERTH" run --rm bench/bb:1 true)
berth_runc_ms=$(median "$BERTH" run --rm --runtime runc bench/bb:1 true)
runc_ms=$(median oci_run runc)
crun_ms=n/a
if command -v crun >/dev/null; then
  # crun refuses this machine's hybrid cgroups unless hugetlb is rebound (PEERS.md); benchmark only.
  mkdir -p "$TMP/hugetlb"
  if unshare -m sh -c "mount -t cgroup -o hugetlb none $TMP/hugetlb && exit 0" 2>/dev/null; then
    crun_ms=$(median unshare -m sh -c "mount -t cgroup -o hugetlb none $TMP/hugetlb; crun --root $TMP/state-crun run --bundle $TMP/bundle c\$\$; umount $TMP/hugetlb")
  fi
fi
podman_ms=n/a
if command -v podman >/dev/null; then
  mkdir -p "$TMP/podman"
  printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]\n[engine]\nruntime = "runc"\n' > "$TMP/containers.conf"
  P=(env -u DOCKER_CONFIG CONTAINERS_CONF="$TMP/containers.conf" podman --root "$TMP/podman/root" --runroot "$TMP/podman/run" --storage-driver vfs)
  if "$BERTH" save -o "$TMP/bb.tar" bench/bb:1 &&
     loaded=$("${P[@]}" load -i "$TMP/bb.tar" 2>/dev/null | sed -n 's/^Loaded image: //p' | head -1) &&
     [ -n "$loaded" ] && "${P[@]}" run --rm --network none "$loaded" true; then
    podman_ms=$(median "${P[@]}" run --rm --network none "$loaded" true)
  fi
fi
ratio() { [ "$2" = n/a ] && echo n/a || awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a/b}'; }
printf '%-44s %10s\n' "start latency, median of $N (ms)" "ms"
printf '%-44s %10s\n' "berth run --rm IMAGE true (own engine)" "$berth_ms"
printf '%-44s %10s\n' "berth run --rm --runtime runc IMAGE true" "$berth_runc_ms"
printf '%-44s %10s\n' "runc run (bundle)" "$runc_ms"
printf '%-44s %10s\n' "crun run (bundle, hugetlb workaround)" "$crun_ms"
printf '%-44s %10s\n' "podman run --rm (vfs, runc)" "$podman_ms"
printf 'berth/crun %s (target <= 1.2x), berth/podman %s (target <= 0.3x), berth/runc %s\n' \
  "$(ratio "$berth_ms" "$crun_ms")" "$(ratio "$berth_ms" "$podman_ms")" "$(ratio "$berth_ms" "$runc_ms")"

# `berth ps -a` with PS_CONTAINERS containers, a tenth of them running.
running=$((PS_CONTAINERS / 10))
for i in $(seq "$PS_CONTAINERS"); do
  if [ "$i" -le "$running" ]; then
    "$BERTH" run -d bench/bb:1 sleep 600 >/dev/null
  else
    "$BERTH" run bench/bb:1 true >/dev/null
  fi
done
ps_ms=$(median "$BERTH" ps -a)
printf '%-44s %10s\n' "berth ps -a, $PS_CONTAINERS containers ($running up)" "$ps_ms"
printf 'berth ps %s ms (target < 50)\n' "$ps_ms"
