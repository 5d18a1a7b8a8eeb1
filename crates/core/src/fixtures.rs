//! Fixtures shared by the tests of this crate and of the crates above it (the `test-support`
//! feature): a global configuration as `jailctl.toml` defaults give it, and a plain jail.

use crate::config::spec::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// The global configuration with every default, a 14.2-RELEASE default base.
pub fn global() -> Global {
    Global {
        zfs_root: "zroot/jailctl".into(),
        mount_root: "/usr/local/jails".into(),
        default_base: Some("14.2-RELEASE".into()),
        parallelism: None,
        shutdown_timeout: Duration::from_secs(60),
        deadlines: Default::default(),
        dying_wait: std::time::Duration::from_secs(10),
        bridges: BTreeMap::new(),
        networks: BTreeMap::new(),
    }
}

/// A plain inherit-mode jail named `name`, as a minimal definition file would give it.
pub fn spec(name: &str) -> JailSpec {
    JailSpec {
        name: name.into(),
        source: format!("/usr/local/etc/jailctl/jails/{name}.toml").into(),
        extends: vec![],
        hostname: format!("{name}.example.org"),
        autostart: true,
        depends_on: vec![],
        base: "14.2-RELEASE".into(),
        root: RootProps::default(),
        limits: Limits::default(),
        cpuset: None,
        network: Network::Inherit,
        mounts: vec![],
        volumes: vec![],
        params: BTreeMap::new(),
        hooks: Hooks::default(),
        health: None,
        provision: Provision::default(),
        ports: vec![],
    }
}
