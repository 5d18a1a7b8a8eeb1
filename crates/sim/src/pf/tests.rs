//! Tests of the simulated pfctl: the rules jailctl emits, refusals with their lines, and
//! pfctl driven as jailctl drives it.

use super::grammar::parse;
use super::*;
use crate::Ctx;

fn p(text: &str) -> Result<Ruleset, String> {
    parse("stdin", text, false).map(|p| p.rules)
}

#[test]
fn what_jailctl_emits_parses() {
    let r = p("nat on em0 inet from <jailctl_nat> to any -> (em0)\n\
                   rdr on em0 inet proto tcp from any to (em0) port 8080 -> 10.0.0.4 port 80\n\
                   rdr on em0 inet proto udp from any to 192.0.2.10 port 5000:5010 -> 10.0.0.4 port 6000:*\n\
                   pass in on em0 inet proto tcp from any to 10.0.0.4 port 80 keep state\n")
        .unwrap();
    assert_eq!(
        r.nat,
        [
            "nat on em0 inet from <jailctl_nat> to any -> (em0)",
            "rdr on em0 inet proto tcp from any to (em0) port = 8080 -> 10.0.0.4 port 80",
            "rdr on em0 inet proto udp from any to 192.0.2.10 port 5000:5010 -> 10.0.0.4 port 6000:*",
        ]
    );
    assert_eq!(
        r.rules,
        ["pass in on em0 inet proto tcp from any to 10.0.0.4 port = 80 keep state"]
    );
}

#[test]
fn malformed_rules_are_refused_with_their_line() {
    for (text, want) in [
        (
            "rdr on em0 proto tcp from any to any port 80 10.0.0.4\n",
            "stdin:1: syntax error",
        ),
        (
            "nat on em0 from any to any -> 10.0.0.4 port 80\n",
            "stdin:1: redirection port needs tcp or udp",
        ),
        (
            "\npass in on em0 proto tcp from any to any port 70000\n",
            "stdin:2: illegal port value 70000",
        ),
        (
            "pass in on em0 from any to any port 80\n",
            "stdin:1: port only applies to tcp/udp",
        ),
        (
            "pass in all\nnat on em0 from any to any -> (em0)\n",
            "stdin:2: Rules must be in order: options, normalization, queueing, translation, filtering",
        ),
        (
            "rdr on em0 proto tcp from any to 10.0.0.300 port 80 -> 10.0.0.4\n",
            "stdin:1: no IP address found for 10.0.0.300",
        ),
    ] {
        let e = p(text).unwrap_err();
        assert_eq!(e.trim_end(), want, "{text}");
    }
}

/// pfctl as jailctl drives it: module, stdin loads, refusals, listings, flush, tables.
#[test]
fn pfctl_as_jailctl_drives_it() {
    let d = tempfile::tempdir().unwrap();
    let mut st = crate::SimState::default();
    let mut ctx = Ctx {
        state: &mut st,
        root: d.path(),
        hung: false,
        stdin: None,
        stdout: Vec::new(),
    };
    let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let out = run(&mut ctx, &a(&["-s", "info"]), None);
    assert_eq!(
        (out.status, out.stderr.as_str()),
        (1, "pfctl: /dev/pf: No such file or directory\n")
    );
    ctx.state.kld.loaded.insert("pf".into());
    assert!(
        run(&mut ctx, &a(&["-s", "info"]), None)
            .stdout
            .starts_with("Status: Disabled")
    );
    assert_eq!(run(&mut ctx, &a(&["-e"]), None).stderr, "pf enabled\n");
    assert_eq!(
        run(&mut ctx, &a(&["-e"]), None).stderr,
        "pfctl: pf already enabled\n"
    );
    // A malformed rule: pf's message and status, and nothing loaded.
    let bad = b"nat on em0 from any to any -> (em0)\nrdr on em0 proto tcp from any to any port 99999 -> 10.0.0.4\n";
    let out = run(&mut ctx, &a(&["-a", "jailctl/web", "-f", "-"]), Some(bad));
    assert_eq!(out.status, 1);
    assert_eq!(
        out.stderr,
        "stdin:2: illegal port value 99999\npfctl: Syntax error in config file: pf rules not loaded\n"
    );
    assert!(ctx.state.pf.anchors.is_empty());
    let out = run(&mut ctx, &a(&["-a", "jailctl/*", "-s", "nat"]), None);
    assert_eq!(out.stderr, "pfctl: DIOCGETRULES: Invalid argument\n");
    let good = b"nat on em0 inet from <jailctl_nat> to any -> (em0)\npass in on em0 inet proto tcp from any to 10.0.0.4 port 80 keep state\n";
    let out = run(&mut ctx, &a(&["-a", "jailctl/web", "-f", "-"]), Some(good));
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(
        run(&mut ctx, &a(&["-a", "jailctl", "-s", "Anchors"]), None).stdout,
        "  jailctl/web\n"
    );
    assert_eq!(
        run(&mut ctx, &a(&["-a", "jailctl/web", "-s", "rules"]), None).stdout,
        "pass in on em0 inet proto tcp from any to 10.0.0.4 port = 80 keep state\n"
    );
    let out = run(
        &mut ctx,
        &a(&["-t", "jailctl_nat", "-T", "add", "10.0.0.4"]),
        None,
    );
    assert_eq!(out.stderr, "1 table created.\n1/1 addresses added.\n");
    let out = run(&mut ctx, &a(&["-t", "jailctl_nat", "-T", "show"]), None);
    assert_eq!(out.stdout, "   10.0.0.4\n");
    let out = run(
        &mut ctx,
        &a(&["-t", "jailctl_nat", "-T", "delete", "10.0.0.4"]),
        None,
    );
    assert_eq!(out.stderr, "1/1 addresses deleted.\n");
    let out = run(&mut ctx, &a(&["-a", "jailctl/web", "-F", "all"]), None);
    assert_eq!(out.status, 0);
    assert!(ctx.state.pf.anchors.is_empty(), "an empty anchor stays");
    let out = run(&mut ctx, &a(&["-t", "nope", "-T", "show"]), None);
    assert_eq!(out.stderr, "pfctl: Table does not exist.\n");
}

#[test]
fn recursive_anchor_patterns() {
    assert!(anchor_matches("jailctl/*", "jailctl/web"));
    assert!(!anchor_matches("jailctl/*", "jailctl/web/x"));
    assert!(!anchor_matches("jailctl/*", "jailctlx/web"));
    assert!(anchor_matches("jailctl/web", "jailctl/web"));
}
