#!/bin/sh
# jailctl quick start: on a fresh Debian (or any Linux) machine, make a simulated FreeBSD host,
# a tiny FreeBSD-shaped distribution set with a real MANIFEST, a base from it, and bring up the
# example fleet in examples/ on that host. Nothing outside the work directory is touched.
#
#   sh examples/quickstart.sh            # the whole path: base create -> up --all -> list
#   sh examples/quickstart.sh --base-only
#
# Settings (environment):
#   QUICKSTART_DIR  work directory (default: target/quickstart); each run starts it afresh
#   JAILCTL         how to run jailctl (default: build it with cargo, then target/debug/jailctl)
# Needs: sh, tar and xz (GNU tar's -J), sha256sum.
set -eu

cd "$(dirname "$0")/.."
WORK=${QUICKSTART_DIR:-target/quickstart}
JAILCTL=${JAILCTL:-}
RELEASE=14.3-RELEASE
BASE_ONLY=no
case "${1:-}" in
    --base-only) BASE_ONLY=yes ;;
    "") ;;
    *) echo "usage: sh examples/quickstart.sh [--base-only]" >&2; exit 2 ;;
esac

for tool in tar xz sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "quickstart: $tool is missing; on Debian: apt-get install tar xz-utils coreutils" >&2
        exit 1
    }
done

# The first build compiles jailctl and its dependencies: a few minutes on a small machine.
# cargo prints each crate as it compiles, so the wait is visible.
if [ -z "$JAILCTL" ]; then
    echo "==> building jailctl (cargo build; the first build takes a few minutes, later ones seconds)"
    cargo build --bin jailctl
    JAILCTL=target/debug/jailctl
fi

# Each run starts from a fresh simulated host. The work directory carries a marker, so a
# directory that quickstart did not make is never removed.
if [ -e "$WORK" ] && [ ! -e "$WORK/.jailctl-quickstart" ]; then
    echo "quickstart: $WORK exists and was not made by quickstart; set QUICKSTART_DIR to another directory" >&2
    exit 1
fi
rm -rf "$WORK"
mkdir -p "$WORK/dist"
touch "$WORK/.jailctl-quickstart"
HOST=$WORK/host
DIST=$WORK/dist

echo "==> a tiny $RELEASE distribution set in $DIST"
TREE=$WORK/tree
mkdir -p "$TREE/bin" "$TREE/etc" "$TREE/dev" "$TREE/var/log" "$TREE/var/run" "$TREE/tmp" \
    "$TREE/usr/local/etc" "$TREE/usr/local/bin" "$TREE/root"
cat >"$TREE/bin/freebsd-version" <<VERSION
#!/bin/sh
USERLAND_VERSION="$RELEASE"
echo "\$USERLAND_VERSION"
VERSION
chmod 555 "$TREE/bin/freebsd-version"
# Base programs the templates' health checks and `jailctl console` run (the simulator does not execute them: an
# executable file in the jail stands for the program).
mkdir -p "$TREE/usr/bin"
for prog in fetch drill login; do
    printf '#!/bin/sh\n' >"$TREE/usr/bin/$prog"
    chmod 555 "$TREE/usr/bin/$prog"
done
# And the ones the README's examples run (`jailctl exec web -- ps ax`, `jailctl console`).
printf '#!/bin/sh\n' >"$TREE/bin/ps"
chmod 555 "$TREE/bin/ps"
printf 'root:*:0:0::0:0:Charlie &:/root:/bin/sh\n' >"$TREE/etc/master.passwd"
chmod 600 "$TREE/etc/master.passwd"
printf 'root:*:0:0:Charlie &:/root:/bin/sh\nwww:*:80:80:World Wide Web Owner:/nonexistent:/usr/sbin/nologin\n' >"$TREE/etc/passwd"
printf 'wheel:*:0:root\nwww:*:80:\n' >"$TREE/etc/group"
printf 'hostname=""\n' >"$TREE/etc/rc.conf"
chmod 1777 "$TREE/tmp"
tar -cJf "$DIST/base.txz" --owner=0 --group=0 -C "$TREE" .
SUM=$(sha256sum "$DIST/base.txz" | cut -d' ' -f1)
COUNT=$(tar -tJf "$DIST/base.txz" | wc -l | tr -d ' ')
printf 'base.txz\t%s\t%s\tbase\t"Base system (MANDATORY)"\ton\n' "$SUM" "$COUNT" >"$DIST/MANIFEST"
rm -rf "$TREE"

run() {
    echo "==> jailctl $*"
    # shellcheck disable=SC2086 # JAILCTL is a command line on purpose
    $JAILCTL --simulate "$HOST" --config-dir examples "$@"
}

run base create "$RELEASE" --from "$DIST"
run base list
[ "$BASE_ONLY" = yes ] && exit 0

# Host directories the example jails mount (web serves /srv/www/example.org read-only). On a
# simulated host, DIR/root/ stands for the host's /.
mkdir -p "$HOST/root/srv/www/example.org"
printf '<h1>hello from jailctl</h1>\n' >"$HOST/root/srv/www/example.org/index.html"

# `up` and `list` come with the lifecycle commands; say so plainly on a build without them.
# shellcheck disable=SC2086
if $JAILCTL up --help >/dev/null 2>&1; then
    run up --all
    run list
else
    echo "quickstart: this jailctl has no \`up\` command yet; the base is ready on the simulated host $HOST" >&2
    exit 1
fi
