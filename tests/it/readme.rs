//! The README's usage section, run: every command in its example block, in order, on the
//! host `examples/quickstart.sh` makes, through the real binary; each must succeed. Also the
//! quick start says what it does while it builds.

use std::path::Path;
use std::process::Command;

/// The commands of the README's `## Usage` example block, without comments.
fn usage_commands() -> Vec<Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let usage = &readme[readme.find("## Usage\n").expect("a Usage section")..];
    let block = &usage[usage.find("```sh\n").unwrap() + 6..];
    let block = &block[..block.find("```").unwrap()];
    block
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let words: Vec<String> = l.split_whitespace().map(str::to_string).collect();
            assert_eq!(
                words[0], "jailctl",
                "not a jailctl command in the README: {l}"
            );
            words[1..].to_vec()
        })
        .collect()
}

fn quickstart(work: &Path) {
    let out = Command::new("sh")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart.sh"))
        .env("QUICKSTART_DIR", work)
        .env("JAILCTL", env!("CARGO_BIN_EXE_jailctl"))
        .env_remove("JAILCTL_SIM_FAULTS")
        .env_remove("JAILCTL_SIMULATE")
        .env_remove("JAILCTL_CONFIG_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "quickstart failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_usage_example_in_the_readme_runs_on_the_quickstart_host() {
    let cmds = usage_commands();
    assert!(cmds.len() >= 20, "{cmds:?}");
    let t = tempfile::tempdir().unwrap();
    let work = t.path().join("qs");
    quickstart(&work);
    let host = work.join("host");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let fresh = t.path().join("fresh-config");
    let mut seen = Vec::new();
    for args in &cmds {
        // `init` sets up a host without configuration: give it an empty directory (on the
        // quickstart host's pool); everything else uses the examples.
        let config = if args[0] == "init" { &fresh } else { &examples };
        let out = Command::new(env!("CARGO_BIN_EXE_jailctl"))
            .env_remove("JAILCTL_SIM_FAULTS")
            .env_remove("JAILCTL_SIMULATE")
            .env_remove("JAILCTL_CONFIG_DIR")
            .arg("--simulate")
            .arg(&host)
            .arg("--config-dir")
            .arg(config)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "jailctl {} failed ({:?}):\n{}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        seen.push(args[0].clone());
    }
    // The block covers the commands a newcomer needs.
    for c in [
        "init", "doctor", "up", "status", "show", "exec", "console", "snapshot", "destroy",
    ] {
        assert!(seen.iter().any(|s| s == c), "the README shows no `{c}`");
    }
    assert!(fresh.join("jailctl.toml").is_file());
}

#[test]
fn quickstart_says_it_is_building_before_the_build() {
    // A stand-in cargo that only reports what it was asked: the build itself is not the
    // point, the line before it is. target/debug/jailctl is this test's own binary.
    let t = tempfile::tempdir().unwrap();
    let bin = t.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = t.path().join("cargo.log");
    std::fs::write(
        bin.join("cargo"),
        format!(
            "#!/bin/sh\necho \"cargo $*\" >>'{}'\necho '   Compiling jailctl' >&2\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("cargo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new("sh")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart.sh"))
        .arg("--base-only")
        .env("QUICKSTART_DIR", t.path().join("qs"))
        .env("PATH", path)
        .env_remove("JAILCTL")
        .env_remove("JAILCTL_SIMULATE")
        .env_remove("JAILCTL_CONFIG_DIR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout
            .lines()
            .next()
            .unwrap()
            .starts_with("==> building jailctl"),
        "{stdout}"
    );
    assert!(stderr.contains("Compiling jailctl"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().trim(),
        "cargo build --bin jailctl"
    );
    assert!(stdout.contains("==> jailctl base create"), "{stdout}");
}
