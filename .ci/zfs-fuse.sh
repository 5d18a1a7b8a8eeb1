#!/usr/bin/env bash
# Real ZFS for the tests: `.ci/zfs-fuse.sh CMD...` runs CMD (default: the real-ZFS tests only)
# with JAILCTL_TEST_ZFS_POOL naming a fresh file-backed zfs-fuse pool, so tests/it/real_zfs.rs
# drives the simulator's real-ZFS mode against it. Installs zfs-fuse if missing, starts its
# daemon with a pidfile, and always destroys the pool and stops the daemon it started, by its
# pid. Fails if a real-ZFS test printed SKIPPED. Needs root and /dev/fuse (as on CI machines).
set -euo pipefail
cd "$(dirname "$0")/.."

ZFS_FUSE=/usr/sbin/zfs-fuse
ZPOOL=/usr/sbin/zpool

if [ ! -x "$ZFS_FUSE" ]; then
    echo "== installing zfs-fuse"
    apt-get install -y zfs-fuse || { apt-get update && apt-get install -y zfs-fuse; }
fi

work=$(mktemp -d /tmp/jailctl-zfs-fuse.XXXXXX)
pidfile="$work/zfs-fuse.pid"
pool="jailctl_ci_$$"
started=""

cleanup() {
    status=$?
    # zfs-fuse answers "pool is busy" while its FUSE mounts settle: retry for a while.
    if "$ZPOOL" list "$pool" >/dev/null 2>&1; then
        for _ in $(seq 1 30); do
            "$ZPOOL" destroy -f "$pool" 2>/dev/null && break
            sleep 0.5
        done
        "$ZPOOL" list "$pool" >/dev/null 2>&1 && echo "could not destroy pool $pool" >&2
    fi
    if [ -n "$started" ] && [ -s "$pidfile" ]; then
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            # Exited but not yet reaped by its parent: stopped.
            case "$(ps -o stat= -p "$pid" 2>/dev/null)" in Z*) break ;; esac
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null && ! ps -o stat= -p "$pid" | grep -q Z; then
            echo "zfs-fuse (pid $pid) did not stop; killing it" >&2
            kill -9 "$pid" 2>/dev/null || true
        fi
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT

if "$ZPOOL" list >/dev/null 2>&1; then
    echo "== zfs-fuse is already running; using it (it will be left running)"
else
    echo "== starting zfs-fuse"
    "$ZFS_FUSE" --pidfile "$pidfile"
    started=yes
    for _ in $(seq 1 50); do
        "$ZPOOL" list >/dev/null 2>&1 && break
        sleep 0.1
    done
    "$ZPOOL" list >/dev/null
fi

echo "== creating pool $pool"
truncate -s 256M "$work/pool.img"
"$ZPOOL" create -m "$work/mnt" "$pool" "$work/pool.img"

if [ "$#" -eq 0 ]; then
    set -- cargo test --locked --test it real_zfs -- --nocapture
fi
echo "== $* (real ZFS: zfs-fuse pool $pool)"
JAILCTL_TEST_ZFS_POOL="$pool" "$@" 2>&1 | tee "$work/test.log"
if grep -q '^SKIPPED: .*zfs-fuse' "$work/test.log"; then
    echo "real-ZFS tests were skipped although zfs-fuse runs" >&2
    exit 1
fi
