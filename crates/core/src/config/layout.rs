//! Where jailctl puts things and what it calls them: dataset names under `zfs_root`, paths
//! under `mount_root` and `/var/run/jailctl`, the ZFS user properties it records, the names
//! of a jail's epair, and the length limits FreeBSD puts on them. The lowest layer of the
//! pipeline after the spec itself: configuration validation checks names against these
//! limits, and render, observe, plan and apply all name things through these functions, so
//! no layer has to reach up to another for a name.

use super::spec::Global;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// jail(8) cannot mount a path longer than this (MNAMELEN 88 including the NUL).
pub const MAX_MOUNT_PATH: usize = 87;

/// Where jailctl writes the rendered jail.conf of a jail.
pub fn conf_path(name: &str) -> PathBuf {
    PathBuf::from(format!("/var/run/jailctl/{name}.conf"))
}

/// The root directory of a jail.
pub fn jail_root(global: &Global, name: &str) -> PathBuf {
    global.mount_root.join(name)
}

/// The jail's root dataset.
pub fn root_dataset(global: &Global, name: &str) -> String {
    format!("{}/jails/{name}", global.zfs_root)
}

/// The name a re-create gives a jail's old root while the new one is cloned:
/// `<root>.retired`, a sibling of the root.
pub fn retired_root(root_dataset: &str) -> String {
    format!("{root_dataset}.retired")
}

/// The name an upgrade keeps a jail's old root under: `<root>.pre-upgrade`, a sibling of the
/// root.
pub fn kept_root(root_dataset: &str) -> String {
    format!("{root_dataset}.pre-upgrade")
}

/// The dataset of a base; jails clone its newest snapshot (see `plan::newest_snapshot`).
pub fn base_dataset(global: &Global, base: &str) -> String {
    format!("{}/bases/{base}", global.zfs_root)
}

/// The dataset of one volume of a jail.
pub fn volume_dataset(global: &Global, jail: &str, volume: &str) -> String {
    format!("{}/volumes/{jail}/{volume}", global.zfs_root)
}

/// Where a volume is mounted on the host (outside every jail root, so re-cloning a root never
/// touches it); jail(8) nullfs-mounts it into the jail.
pub fn volume_mountpoint(global: &Global, jail: &str, volume: &str) -> PathBuf {
    global.mount_root.join(".volumes").join(jail).join(volume)
}

/// `<jail root>/<target>` for an absolute path inside the jail.
pub fn inside(root: &Path, target: &Path) -> PathBuf {
    let rel = target.strip_prefix("/").unwrap_or(target);
    root.join(rel)
}

/// SHA-256 over the chunks, each preceded by its length as 8 little-endian bytes, so no two
/// different lists of chunks hash the same input (`("ab","c")` and `("a","bc")`, or a chunk
/// holding any byte, cannot run into the next). The first 16 hex digits (64 bits) are kept:
/// the value is a change detector, stored eight times over in short user properties and
/// shown in `--dry-run`, and it only decides whether jailctl re-applies a definition jailctl
/// itself rendered.
pub fn hash_hex(chunks: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for c in chunks {
        h.update((c.len() as u64).to_le_bytes());
        h.update(c);
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// User properties jailctl keeps on a jail's root dataset.
pub mod props {
    pub const MANAGED: &str = "jailctl:managed";
    pub const BASE: &str = "jailctl:base";
    pub const SPEC: &str = "jailctl:spec";
    pub const PARTS: &str = "jailctl:parts";
    pub const PARAMS: &str = "jailctl:params";
    pub const LIMITS: &str = "jailctl:limits";
    pub const CPUSET: &str = "jailctl:cpuset";
    /// The fingerprint of the provisioning applied when the jail was created.
    pub const PROVISIONED: &str = "jailctl:provisioned";
    /// `HASH,ADDR`: a hash of the pf rules loaded into the jail's anchor and the address put
    /// in the NAT table (`none` when it has none), so `plan` knows what is loaded without
    /// reading the rules back.
    pub const PF: &str = "jailctl:pf";
    /// Set by `jailctl upgrade` on the new root: the base snapshot the jail ran on before.
    pub const UPGRADE_FROM: &str = "jailctl:upgrade-from";
    /// Every property `observe` must fetch for planning.
    pub const ALL: &[&str] = &[
        MANAGED,
        BASE,
        SPEC,
        PARTS,
        PARAMS,
        LIMITS,
        CPUSET,
        PROVISIONED,
        PF,
        super::IP4_PROP,
        "quota",
        "reservation",
        "compression",
        "mountpoint",
        "origin",
        // A root that cannot execute anything cannot run a jail: refused before any step.
        "exec",
    ];
}

/// Interface names are at most 15 characters (IFNAMSIZ 16 with the NUL).
pub const MAX_IFNAME: usize = 15;

/// The dataset property recording an automatically allocated IPv4 address (`ADDR/LEN`).
pub const IP4_PROP: &str = "jailctl:ip4";

/// The two ends of a jail's epair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpairNames {
    /// Stays on the host, member of the bridge.
    pub host: String,
    /// Moved into the jail by jail(8) (`vnet.interface`).
    pub jail: String,
}

/// The interface names of a jail's epair, from its name alone (never its jid, which changes
/// at every start).
///
/// Names of up to 11 characters give `e0a_<name>` / `e0b_<name>`. Longer names give
/// `e1a_<first 5 characters><6 hex digits of a hash of the whole name>`: the `e1` prefix
/// keeps them apart from every short form, and two long names clash only when they share
/// their first 5 characters *and* the 24-bit hash (about one chance in 16 million per pair),
/// which `vnet::resolve` still detects across all definitions before anything is touched.
pub fn epair_names(jail: &str) -> EpairNames {
    let short = MAX_IFNAME - 4;
    if jail.len() <= short {
        return EpairNames {
            host: format!("e0a_{jail}"),
            jail: format!("e0b_{jail}"),
        };
    }
    let h = hash_hex(&[jail.as_bytes()]);
    // Jail names are ASCII (validated), so byte slicing is safe.
    let stem = &jail[..5];
    let tag = &h[..6];
    EpairNames {
        host: format!("e1a_{stem}{tag}"),
        jail: format!("e1b_{stem}{tag}"),
    }
}

/// The pf anchor holding a jail's NAT and port-forwarding rules (below the `jailctl` anchor
/// that pf.conf reaches with `nat-anchor`/`rdr-anchor`/`anchor "jailctl/*"`).
pub fn pf_anchor(jail: &str) -> String {
    format!("{PF_ANCHOR}/{jail}")
}

/// The parent of every jail's anchor.
pub const PF_ANCHOR: &str = "jailctl";

/// The pf table of the addresses jailctl NATs (in the main ruleset, so the administrator's
/// own rules can name it too).
pub const PF_NAT_TABLE: &str = "jailctl_nat";
