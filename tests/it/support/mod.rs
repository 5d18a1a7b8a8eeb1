//! Shared helpers for the end-to-end tests: run the real `jailctl` binary against a simulated
//! host directory, make such a host with a base, and take a fingerprint of the whole host
//! (`jailctl_sim::fingerprint`, shared with the unit tests) so a test can require that two
//! hosts are the same, not merely that a few chosen facts agree. Every test module runs the
//! binary through these helpers.
// A support module offers more helpers than any one test module uses.
#![allow(dead_code)]

mod fingerprint;
pub mod kill;

// Re-exported for the test modules, which do not all use each.
#[allow(unused_imports)]
pub use jailctl_sim::fingerprint::{Fingerprint, assert_same, fingerprint};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Remove every `JAILCTL_*` variable (the simulator's settings, `JAILCTL_SIMULATE`, the
/// configuration directory, and any added later), so the developer's shell cannot change a
/// test's outcome.
fn clean_env(c: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("JAILCTL_") {
            c.env_remove(k);
        }
    }
}

/// `jailctl -q --simulate SIM --config-dir CFG` with a clean environment and an empty stdin;
/// add the subcommand and its arguments, and any `JAILCTL_SIM_*` setting, then run or spawn.
pub fn jailctl(sim: &Path, cfg: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jailctl"));
    clean_env(&mut c);
    c.arg("-q")
        .arg("--simulate")
        .arg(sim)
        .arg("--config-dir")
        .arg(cfg)
        .stdin(std::process::Stdio::null());
    c
}

/// Run `jailctl ARGS...` to completion.
pub fn run(sim: &Path, cfg: &Path, args: &[&str]) -> Output {
    jailctl(sim, cfg).args(args).output().unwrap()
}

/// Run `jailctl ARGS...`, which must succeed; its stdout.
#[track_caller]
pub fn ok(sim: &Path, cfg: &Path, args: &[&str]) -> String {
    let o = run(sim, cfg, args);
    assert!(
        o.status.success(),
        "jailctl {args:?} exited {:?}:\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// `jailctl --simulate SIM sim TOOL ARGS...` (one command on the simulated host), which must
/// succeed; its stdout.
#[track_caller]
pub fn sim(simdir: &Path, args: &[&str]) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jailctl"));
    clean_env(&mut c);
    let o = c
        .arg("-q")
        .arg("--simulate")
        .arg(simdir)
        .arg("sim")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "jailctl sim {args:?} exited {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// Where the base of [`host_with_base`] is mounted.
pub const BASE_MOUNT: &str = "/usr/local/jails/.bases/14.3-RELEASE";
/// Its snapshot, as `jailctl base create` names one.
pub const BASE_SNAPSHOT: &str = "zroot/jailctl/bases/14.3-RELEASE@20260101-000000";

/// A simulated host with base `14.3-RELEASE` snapshotted as `@20260101-000000` (what the
/// base holds: `jailctl_sim::testing::seed_base`) and the host directories the examples
/// mount, so `boot` finds the examples healthy. Made in-process, not with `jailctl base
/// create`, which has its own tests (tests/it/base.rs).
pub fn host_with_base(simdir: &Path) {
    let h = jailctl_sim::SimHost::open(simdir).unwrap();
    let (dataset, snapshot) = BASE_SNAPSHOT.split_once('@').unwrap();
    jailctl_sim::testing::seed_base(&h, dataset, BASE_MOUNT, snapshot);
    let root = simdir.join("root");
    for d in ["srv/www/example.org", "srv/a", "srv/b"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
}

/// Copy the shipped `examples/` configuration (four jails) to `to`.
pub fn examples_config(to: &Path) {
    crate::lifecycle_e2e::examples_config(to);
}

/// Copy a directory tree (files, directories, symlinks; modes kept by `fs::copy`).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            copy_tree(&e.path(), &t);
            let mode = std::fs::metadata(e.path()).unwrap().permissions();
            std::fs::set_permissions(&t, mode).unwrap();
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path()).unwrap(), &t).unwrap();
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// A temporary simulated host (`sim/`) with base 14.3-RELEASE and a configuration
/// directory (`etc/`) holding the shipped examples. Its commands run in the temporary
/// directory with the relative paths `sim` and `etc`, as jailctl records the configuration
/// path it read (in the rendered jail.conf and the spec digest): two hosts made this way in
/// different directories are then byte for byte comparable.
pub struct TestHost {
    pub dir: tempfile::TempDir,
}

impl TestHost {
    pub fn examples() -> TestHost {
        let dir = tempfile::tempdir().unwrap();
        let t = TestHost { dir };
        host_with_base(&t.sim());
        examples_config(&t.cfg());
        t
    }

    pub fn sim(&self) -> PathBuf {
        self.dir.path().join("sim")
    }

    pub fn cfg(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    /// Write `etc/jails/NAME.toml`.
    pub fn jail(&self, name: &str, toml: &str) {
        let d = self.cfg().join("jails");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(format!("{name}.toml")), toml).unwrap();
    }

    /// `jailctl -q --simulate sim --config-dir etc`, run in the host's directory.
    pub fn jailctl(&self) -> Command {
        let mut c = jailctl(Path::new("sim"), Path::new("etc"));
        c.current_dir(self.dir.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.jailctl().args(args).output().unwrap()
    }

    /// Run `jailctl ARGS...` on this host, which must succeed; its stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "jailctl {args:?} exited {:?}:\n{}{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint(&self.sim())
    }

    /// A copy of this host and its configuration in a new temporary directory.
    pub fn copy(&self) -> TestHost {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(self.dir.path(), dir.path());
        TestHost { dir }
    }
}
