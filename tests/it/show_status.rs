//! `show` and `status` through the real binary: the TOML `show` prints for every example and
//! every shipped template, pasted back as the jail's file, validates to the same resolved
//! definition; `status` on the example fleet is a table of usage beside limits in human units,
//! `status NAME` the detail, `--json` the exact numbers.

use crate::cli_output::fleet_up;
use crate::support::{examples_config, jailctl};
use serde_json::Value;
use std::path::Path;

const TEMPLATES: &[&str] = &[
    "minimal",
    "nginx",
    "postgresql",
    "redis",
    "unbound",
    "build",
    "vnet",
];

fn stdout(c: &mut assert_cmd::Command) -> String {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// The resolved definition without what names its origin (file, templates).
fn resolved(sim: &Path, cfg: &Path, name: &str) -> Value {
    let mut v: Value =
        serde_json::from_str(&stdout(jailctl(sim, cfg).args(["show", name, "--json"]))).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("source");
    o.remove("extends");
    v
}

#[test]
fn show_of_every_example_and_template_pasted_back_validates_to_the_same_definition() {
    let t = tempfile::tempdir().unwrap();
    let (sim, cfg) = (t.path().join("sim"), t.path().join("cfg"));
    examples_config(&cfg);
    for (i, name) in TEMPLATES.iter().enumerate() {
        let net = if *name == "vnet" {
            String::new()
        } else {
            format!(
                "\n[network]\nmode = \"alias\"\ninterface = \"em0\"\nip4 = [\"192.0.2.{}/24\"]\n",
                10 + i
            )
        };
        std::fs::write(
            cfg.join(format!("jails/t-{name}.toml")),
            format!("extends = \"{name}\"\nhostname = \"{name}.example.org\"\n{net}"),
        )
        .unwrap();
    }
    let mut names: Vec<String> = std::fs::read_dir(cfg.join("jails"))
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.strip_suffix(".toml").map(str::to_string)
        })
        .collect();
    names.sort();
    assert_eq!(names.len(), 4 + TEMPLATES.len(), "{names:?}");
    for name in &names {
        let before = resolved(&sim, &cfg, name);
        let text = stdout(jailctl(&sim, &cfg).args(["show", name]));
        // Units as people write them, never the raw serde shapes.
        assert!(!text.contains("secs ="), "{name}:\n{text}");
        assert!(!text.contains("nanos ="), "{name}:\n{text}");
        // Neither the name nor the file it came from is a key of a jail file.
        assert!(
            text.lines().nth(1).unwrap().starts_with("hostname = "),
            "{name}:\n{text}"
        );
        std::fs::write(cfg.join(format!("jails/{name}.toml")), &text).unwrap();
        jailctl(&sim, &cfg).arg("validate").assert().success();
        let after = resolved(&sim, &cfg, name);
        assert_eq!(before, after, "{name}: show printed\n{text}");
    }
    // The units of the web example, as its files spell them.
    let web = stdout(jailctl(&sim, &cfg).args(["show", "web"]));
    for want in [
        "memory = \"512M\"",
        "interval = \"30s\"",
        "mode = \"0644\"",
        "\"vmemoryuse:deny=4G\"",
        "source = \"files/nginx.conf\"",
    ] {
        assert!(web.contains(want), "no {want} in\n{web}");
    }
    // --json keeps exact numbers.
    let v = resolved(&sim, &cfg, "web");
    assert_eq!(v["limits"]["memory"], 536870912u64);
    assert_eq!(v["provision"]["files"][0]["mode"], 0o644);
}

#[test]
fn status_is_a_table_of_usage_beside_limits_with_detail_and_json() {
    let t = tempfile::tempdir().unwrap();
    let (s, c) = fleet_up(t.path());
    let table = stdout(jailctl(&s, &c).arg("status"));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "STATE", "JID", "RESOURCE", "USAGE", "LIMIT"],
        "{table}"
    );
    // web: memory 512M denied, pcpu 150%, the raw vmemoryuse rule at 4G, the write rate.
    let web = lines.iter().position(|l| l.starts_with("web ")).unwrap();
    assert!(lines[web].contains("running"), "{table}");
    let rows = &lines[web..];
    let row = |res: &str| -> Vec<&str> {
        rows.iter()
            .find(|l| l.split_whitespace().any(|w| w == res))
            .unwrap_or_else(|| panic!("no {res} row in {table}"))
            .split_whitespace()
            .skip_while(|w| *w != res)
            .collect()
    };
    assert_eq!(row("memoryuse")[2..], ["512M", "(deny)"], "{table}");
    assert!(row("memoryuse")[1].ends_with('M'), "{table}");
    assert_eq!(row("pcpu")[2..], ["150%", "(deny)"], "{table}");
    assert_eq!(row("vmemoryuse")[2..], ["4G", "(deny)"], "{table}");
    assert_eq!(row("writebps")[2..], ["50M/s", "(throttle)"], "{table}");
    // Usage and limit columns line up on every row.
    let col = |l: &str, w: &str| l.find(w).unwrap();
    let limit_col = col(lines[0], "LIMIT");
    for l in &lines[1..] {
        assert!(l.len() > limit_col, "{table}");
        assert_ne!(&l[limit_col - 1..limit_col], "x", "{table}");
    }
    assert!(!table.contains("memoryuse="), "{table}");

    // A stopped jail has no usage rows.
    jailctl(&s, &c).args(["down", "web"]).assert().success();
    let table = stdout(jailctl(&s, &c).arg("status"));
    let web = table.lines().find(|l| l.starts_with("web ")).unwrap();
    assert_eq!(
        web.split_whitespace().collect::<Vec<_>>(),
        ["web", "stopped", "-", "-", "-", "-"],
        "{table}"
    );
    jailctl(&s, &c).args(["up", "web"]).assert().success();

    // status NAME: facts, then every resource in use or limited.
    let d = stdout(jailctl(&s, &c).args(["status", "web"]));
    let first: Vec<&str> = d.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(first[..2], ["web", "running"], "{d}");
    assert!(d.contains("addresses:  192.168.1.20, 2001:db8::20"), "{d}");
    assert!(d.contains("current:    yes"), "{d}");
    let row = |res: &str| {
        d.lines()
            .map(str::trim_start)
            .find(|l| l.starts_with(res))
            .unwrap_or_else(|| panic!("no {res} in {d}"))
    };
    assert!(row("openfiles").ends_with("4096 (deny)"), "{d}");
    // Resources in use without a limit are listed too in the detail.
    assert!(row("nthr").ends_with(" -"), "{d}");
    assert!(!d.contains("\ndb ") && !d.contains("\ncache "), "{d}");

    // --json: exact numbers, usage beside each limit.
    let v: Value =
        serde_json::from_str(&stdout(jailctl(&s, &c).args(["status", "--json"]))).unwrap();
    let web = v
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "web")
        .unwrap();
    let res = web["resources"].as_array().unwrap();
    let mem = res.iter().find(|r| r["resource"] == "memoryuse").unwrap();
    assert_eq!(mem["limits"][0]["amount"], 536870912u64);
    assert_eq!(mem["limits"][0]["action"], "deny");
    assert_eq!(mem["usage"], web["usage"]["memoryuse"]);
    assert!(mem["usage"].as_u64().unwrap() > 0);
}
