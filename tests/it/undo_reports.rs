//! Undo reports are checked, not assumed: after a failed run jailctl observes the host again,
//! and says "the host is as before" only when it is; otherwise it names what remains and the
//! command that cleans it, and that command does clean it. Through the real binary on the
//! simulated host, with faults injected in jail(8)'s own clean-up, in an undo, and in a
//! VNET `up` of a jail with a volume.

use super::support::{examples_config, host_state, host_with_base, jailctl, sim};
use std::path::{Path, PathBuf};

const REP: &str = r#"
hostname = "rep.example.org"

[network]
mode = "alias"
interface = "em0"
ip4 = ["192.168.1.30/24"]

[[mounts]]
source = "/srv/a"
target = "/mnt/a"

[[volumes]]
name = "data"
target = "/var/data"
"#;

const V1: &str = r#"
extends = "vnet"
hostname = "v1.example.org"

[network]
mode = "vnet"
bridge = "bridge0"

[[volumes]]
name = "data"
target = "/var/data"
"#;

fn flat(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '│')
        .collect()
}

fn setup(root: &Path) -> (PathBuf, PathBuf) {
    let (s, cfg) = (root.join("sim"), root.join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    std::fs::write(cfg.join("jails/rep.toml"), REP).unwrap();
    std::fs::write(cfg.join("jails/v1.toml"), V1).unwrap();
    (s, cfg)
}

fn fault(s: &Path, command: &str) {
    std::fs::write(
        s.join("faults.toml"),
        format!(
            "[[fault]]\ncommand = {}\n",
            toml::Value::String(command.to_string())
        ),
    )
    .unwrap();
}

fn failing(s: &Path, cfg: &Path, args: &[&str]) -> String {
    let out = jailctl(s, cfg).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "`{}` succeeded: {err}",
        args.join(" ")
    );
    std::fs::remove_file(s.join("faults.toml")).unwrap();
    err
}

fn ip_on_em0(s: &Path) -> bool {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jailctl"))
        .args(["-q", "--simulate"])
        .arg(s)
        .args(["sim", "ifconfig", "em0"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains("192.168.1.30")
}

/// `jail -r` removed the jail, then its own umount of a nullfs mount failed: the report says
/// the jail is gone with that mount still there, never "as before", and names the command
/// that finishes the job; that command leaves the host as a clean `down` does.
#[test]
fn a_stop_whose_umount_fails_inside_jail_r_is_reported_as_it_is() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = setup(t.path());
    jailctl(&s, &cfg).args(["up", "rep"]).assert().success();
    let golden = t.path().join("golden");
    std::process::Command::new("cp")
        .arg("-a")
        .arg(&s)
        .arg(&golden)
        .status()
        .unwrap();
    jailctl(&golden, &cfg)
        .args(["down", "rep"])
        .assert()
        .success();
    fault(&s, "umount /usr/local/jails/rep/mnt/a");
    let err = failing(&s, &cfg, &["down", "rep"]);
    let f = flat(&err);
    assert!(!f.contains(&flat("the host is as before")), "{err}");
    assert!(f.contains(&flat("the host is NOT as before")), "{err}");
    assert!(
        f.contains(&flat(
            "jail rep was removed, but its clean-up stopped part way; still there: nullfs /srv/a on /usr/local/jails/rep/mnt/a"
        )),
        "{err}"
    );
    assert!(
        f.contains(&flat("run `jailctl down rep` to finish")),
        "{err}"
    );
    jailctl(&s, &cfg).args(["down", "rep"]).assert().success();
    assert_eq!(host_state(&s).0, host_state(&golden).0);
}

/// jail(8)'s `ifconfig -alias` failed after the jail was removed: the address stays on em0,
/// the report names it with the exact `ifconfig` command, and running that command and then
/// `jailctl down` leaves the host as a clean `down` does.
#[test]
fn a_stop_whose_alias_removal_fails_names_the_address_and_its_command() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = setup(t.path());
    jailctl(&s, &cfg).args(["up", "rep"]).assert().success();
    assert!(ip_on_em0(&s));
    fault(&s, "ifconfig em0 inet 192.168.1.30* -alias");
    let err = failing(&s, &cfg, &["down", "rep"]);
    let f = flat(&err);
    assert!(!f.contains(&flat("the host is as before")), "{err}");
    assert!(f.contains(&flat("address 192.168.1.30 on em0")), "{err}");
    assert!(
        f.contains(&flat(
            "run `ifconfig em0 inet 192.168.1.30 -alias`, then `jailctl down rep`"
        )),
        "{err}"
    );
    assert!(ip_on_em0(&s), "the report must describe what is there");
    sim(&s, &["ifconfig", "em0", "inet", "192.168.1.30", "-alias"]);
    jailctl(&s, &cfg).args(["down", "rep"]).assert().success();
    assert!(!ip_on_em0(&s));
    let st = host_state(&s).0;
    assert!(st["jail"].as_object().unwrap().is_empty(), "{}", st["jail"]);
    assert!(
        !st["mount"].to_string().contains("nullfs"),
        "{}",
        st["mount"]
    );
}

/// A failed VNET `up` of a jail with a volume is undone completely, the directories the
/// volume's mount made included (`<mount_root>/.volumes/v1` used to stay), and only then
/// does the report say "as before".
#[test]
fn a_failed_vnet_up_with_a_volume_leaves_no_directory_and_says_so_checked() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = setup(t.path());
    let vols = s.join("root/usr/local/jails/.volumes");
    assert!(!vols.exists());
    let before = host_state(&s);
    fault(&s, "jail -f /var/run/jailctl/v1.conf -c v1");
    let err = failing(&s, &cfg, &["up", "v1"]);
    assert!(
        flat(&err).contains(&flat("the host is as before (checked)")),
        "{err}"
    );
    assert!(!vols.exists(), "{} was left", vols.display());
    assert!(!s.join("root/usr/local/jails/v1").exists());
    assert_eq!(before.0, host_state(&s).0);
    jailctl(&s, &cfg).args(["up", "v1"]).assert().success();
}

/// An undo step that fails (the clone cannot be destroyed) is listed, and the check names
/// what remains with the command that removes it; after that command the host is as before.
#[test]
fn an_undo_that_fails_is_reported_with_what_remains() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = setup(t.path());
    jailctl(&s, &cfg)
        .args(["up", "resolver"])
        .assert()
        .success();
    let before = host_state(&s);
    std::fs::write(
        s.join("faults.toml"),
        "[[fault]]\ncommand = \"jail -f /var/run/jailctl/v1.conf -c v1\"\n\n\
[[fault]]\ncommand = \"zfs destroy -r zroot/jailctl/jails/v1\"\n",
    )
    .unwrap();
    let err = failing(&s, &cfg, &["up", "v1"]);
    let f = flat(&err);
    assert!(!f.contains(&flat("the host is as before")), "{err}");
    assert!(f.contains(&flat("could NOT be undone")), "{err}");
    assert!(
        f.contains(&flat(
            "dataset zroot/jailctl/jails/v1 exists (it did not before): run `zfs destroy -r zroot/jailctl/jails/v1`"
        )),
        "{err}"
    );
    sim(&s, &["zfs", "destroy", "-r", "zroot/jailctl/jails/v1"]);
    std::fs::remove_file(s.join("root/var/db/jailctl/journal/v1.json")).unwrap();
    let after = host_state(&s);
    assert_eq!(before.0["zfs"], after.0["zfs"]);
    assert_eq!(before.0["jail"], after.0["jail"]);
}
