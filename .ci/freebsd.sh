#!/usr/bin/env bash
# The FreeBSD build check (called from .ci/run). jailctl ships to FreeBSD but is developed on
# Linux, so this proves on every run that the FreeBSD side still builds:
#   1. `cargo check --all-targets` for x86_64-unknown-freebsd, cfg(target_os = "freebsd") code,
#      the FreeBSD-only crates (rctl, jail) and tests/freebsd_e2e.rs included;
#   2. `cargo clippy --all-targets -- -D warnings` for that target;
#   3. a linked release binary (zig as the linker) that `file` must call a FreeBSD ELF.
# rustup here has no FreeBSD std, so it uses Debian's Rust (rustc-web, cargo-web) with the std
# sources (rust-web-src) and -Zbuild-std. Installs what is missing; any failure fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$(date +%s)

target=x86_64-unknown-freebsd
tdir=${JAILCTL_FREEBSD_TARGET_DIR:-$root/target-freebsd}
zig_spec='ziglang==0.17.*'

step() { echo "== freebsd: $*"; }
elapsed() { echo "$(($(date +%s) - started)) s"; }
die() {
    echo "freebsd.sh: $*" >&2
    exit 1
}

# Debian's toolchain, never rustup's: rustup's cargo comes first in PATH and has no FreeBSD std.
step "toolchain (Debian's rustc-web, cargo-web, rust-web-clippy, rust-web-src)"
pkgs_installed() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || return 1
    done
}
need=(rustc-web cargo-web rust-web-clippy rust-web-src)
command -v file >/dev/null || need+=(file)
if ! pkgs_installed rustc-web cargo-web rust-web-clippy rust-web-src || ! command -v file >/dev/null; then
    echo "installing ${need[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed; the FreeBSD check needs ${need[*]}"
    apt-get install -y -qq "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed"
fi
cargo=/usr/bin/cargo
# cargo finds `cargo-clippy` through PATH; rustup's proxy in ~/.cargo/bin must not win.
dcargo() { PATH=/usr/bin:$PATH "$cargo" "$@"; }
export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
# Keep rustup's proxies and overrides from steering Debian's cargo to another toolchain.
unset RUSTUP_TOOLCHAIN RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER RUSTFLAGS CARGO_BUILD_TARGET
[ -d /usr/lib/rustlib/src/rust/library/std ] ||
    die "std sources missing at /usr/lib/rustlib/src/rust/library (package rust-web-src); -Zbuild-std needs them"
"$cargo" --version
"$RUSTC" --version
# clippy of the same toolchain (package rust-web-clippy): cargo finds cargo-clippy in /usr/bin.
[ -x /usr/bin/cargo-clippy ] || die "/usr/bin/cargo-clippy missing (package rust-web-clippy)"

build_std=("-Zbuild-std=std,panic_abort" --target "$target" --target-dir "$tdir" --locked)

step "cargo check --all-targets --target $target"
dcargo check --all-targets "${build_std[@]}"
echo "check done after $(elapsed)"

step "cargo clippy --all-targets --target $target -- -D warnings"
dcargo clippy --all-targets "${build_std[@]}" -- -D warnings
echo "clippy done after $(elapsed)"

# zig links against its bundled FreeBSD libc stubs, so no FreeBSD sysroot is needed.
step "linker (zig from PyPI $zig_spec)"
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "$@" >/dev/null
}
if ! command -v python3 >/dev/null; then
    echo "installing python3 with apt-get (zig comes from PyPI)"
    apt_install python3 python3-venv || die "cannot install python3, which runs zig (PyPI ziglang)"
fi
zig_python=$(command -v python3)
if ! "$zig_python" -m ziglang version >/dev/null 2>&1; then
    venv=$tdir/zig-venv
    if ! "$venv/bin/python" -m ziglang version >/dev/null 2>&1; then
        echo "installing $zig_spec with pip into $venv"
        if ! "$zig_python" -m venv "$venv" 2>/dev/null; then
            rm -rf "$venv"
            apt_install python3-venv || die "cannot create a Python venv for zig: install python3-venv"
            "$zig_python" -m venv "$venv"
        fi
        "$venv/bin/python" -m pip install --quiet "$zig_spec" ||
            die "pip install $zig_spec failed: zig links the FreeBSD binary"
    fi
    zig_python=$venv/bin/python
fi
export JAILCTL_ZIG_PYTHON=$zig_python
export ZIG_GLOBAL_CACHE_DIR=$tdir/zig-cache
echo "zig $("$zig_python" -m ziglang version)"

step "cargo build --release --bin jailctl --target $target (linked by .ci/zig-freebsd-cc)"
export CARGO_TARGET_X86_64_UNKNOWN_FREEBSD_LINKER=$root/.ci/zig-freebsd-cc
dcargo build --release --bin jailctl "${build_std[@]}"

bin=$tdir/$target/release/jailctl
[ -f "$bin" ] || die "the release build produced no binary at $bin"
line=$(file "$bin")
echo "$line"
case "$line" in
    *"ELF 64-bit"*"x86-64"*"FreeBSD"*) ;;
    *) die "$bin is not a FreeBSD x86-64 ELF executable" ;;
esac
echo "== freebsd: all FreeBSD checks passed in $(elapsed)"
