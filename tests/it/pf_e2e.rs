//! NAT and port forwarding through the real binary on `--simulate`: a NATed VNET jail on
//! bridge0 and an alias jail on the loopback clone lo1, each with two forwards. After `up`
//! the simulated pf holds exactly the expected rules in `jailctl/*` and the jails' addresses
//! in `<jailctl_nat>`; a forward added to a running jail is loaded live (same jid); `down`
//! leaves no anchor and no table entry; a fault at each pf step leaves the whole host (the
//! firewall included) as before; conflicting forwards are refused with file and line.

use crate::support::{TestHost, sim};
use jailctl_sim::{SimConfig, SimHost, SimState};
use std::path::Path;

/// pf.conf with the three anchor lines docs/networking.md asks for.
const PF_CONF: &str =
    "nat-anchor \"jailctl/*\"\nrdr-anchor \"jailctl/*\"\nanchor \"jailctl/*\"\npass all\n";

const NAT_CONFIG: &str = "
[bridges.bridge0.nat]
interface = \"em0\"

[networks.lo1]
ip4_pool = \"10.30.0.0/24\"
nat = { interface = \"em0\" }
";

/// The example fleet's host with pf loaded, enabled and reaching jailctl's anchors, lo1
/// cloned, and NAT on bridge0 and lo1.
fn pf_host() -> TestHost {
    let t = TestHost::examples();
    let s = t.sim();
    sim(&s, &["kldload", "pf"]);
    let etc = s.join("root/etc");
    std::fs::write(etc.join("pf.conf"), PF_CONF).unwrap();
    sim(&s, &["pfctl", "-f", "/etc/pf.conf"]);
    sim(&s, &["pfctl", "-e"]);
    sim(&s, &["ifconfig", "lo1", "create"]);
    let g = t.cfg().join("jailctl.toml");
    let mut text = std::fs::read_to_string(&g).unwrap();
    text.push_str(NAT_CONFIG);
    std::fs::write(&g, text).unwrap();
    t.jail(
        "nv",
        "extends = \"vnet\"\n\n[network]\nmode = \"vnet\"\nbridge = \"bridge0\"\nip4 = [\"10.20.0.40/24\"]\n\n\
         [[ports]]\nhost = 8080\njail = 80\n\n[[ports]]\nhost = 5353\njail = 53\nproto = \"udp\"\n",
    );
    t.jail(
        "al",
        "[network]\nmode = \"alias\"\ninterface = \"lo1\"\nip4 = [\"10.30.0.5/24\"]\n\n\
         [[ports]]\nhost = 2222\njail = 22\n\n[[ports]]\nhost = \"9000-9009\"\njail = \"7000-7009\"\naddress = \"192.0.2.10\"\n",
    );
    t
}

fn state(sim: &Path) -> SimState {
    SimHost::open_with(sim, SimConfig::default())
        .unwrap()
        .snapshot()
        .unwrap()
}

fn jid(t: &TestHost, name: &str) -> String {
    let out = sim(&t.sim(), &["jls", "-j", name, "jid"]);
    out.trim().to_string()
}

const NAT_AFTER_UP: &str = "\
nat-anchor \"al\" all {
  nat on em0 inet from <jailctl_nat> to any -> (em0)
  rdr on em0 inet proto tcp from any to (em0) port = 2222 -> 10.30.0.5 port 22
  rdr on em0 inet proto tcp from any to 192.0.2.10 port 9000:9009 -> 10.30.0.5 port 7000:*
}
nat-anchor \"nv\" all {
  nat on em0 inet from <jailctl_nat> to any -> (em0)
  rdr on em0 inet proto tcp from any to (em0) port = 8080 -> 10.20.0.40 port 80
  rdr on em0 inet proto udp from any to (em0) port = 5353 -> 10.20.0.40 port 53
}
";

const RULES_AFTER_UP: &str = "\
anchor \"al\" all {
  pass in on em0 inet proto tcp from any to 10.30.0.5 port = 22 keep state
  pass in on em0 inet proto tcp from any to 10.30.0.5 port 7000:7009 keep state
}
anchor \"nv\" all {
  pass in on em0 inet proto tcp from any to 10.20.0.40 port = 80 keep state
  pass in on em0 inet proto udp from any to 10.20.0.40 port = 53 keep state
}
";

#[test]
fn nat_and_forwards_follow_up_live_changes_and_down() {
    let t = pf_host();
    let s = t.sim();
    // `plan` shows the rule changes before anything is loaded.
    let plan = t.ok(&["plan", "nv", "al"]);
    assert!(plan.contains("load pf anchor jailctl/nv"), "{plan}");
    assert!(
        plan.contains(
            "+ rdr on em0 inet proto tcp from any to (em0) port 8080 -> 10.20.0.40 port 80"
        ),
        "{plan}"
    );
    assert!(
        plan.contains("add 10.30.0.5 to pf table <jailctl_nat>"),
        "{plan}"
    );

    t.ok(&["up", "nv", "al"]);
    assert_eq!(
        sim(&s, &["pfctl", "-a", "jailctl/*", "-s", "nat"]),
        NAT_AFTER_UP
    );
    assert_eq!(
        sim(&s, &["pfctl", "-a", "jailctl/*", "-s", "rules"]),
        RULES_AFTER_UP
    );
    assert_eq!(
        sim(&s, &["pfctl", "-t", "jailctl_nat", "-T", "show"]),
        "   10.20.0.40\n   10.30.0.5\n"
    );
    assert_eq!(
        sim(&s, &["pfctl", "-a", "jailctl", "-s", "Anchors"]),
        "  jailctl/al\n  jailctl/nv\n"
    );
    // No `rdr pass`: the filter (pf.conf's rules) still decides on redirected packets.
    assert!(!NAT_AFTER_UP.contains("rdr pass"));
    // The main ruleset reaches the anchors, and pf is on: the forwards are in effect.
    let st = state(&s);
    assert!(st.pf.evaluates("jailctl"));
    assert_eq!(st.pf.effective_rdr().len(), 4);

    // list --json and status show the forwards.
    let list: serde_json::Value = serde_json::from_str(&t.ok(&["list", "--json"])).unwrap();
    let nv = list
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == "nv")
        .unwrap();
    assert_eq!(
        nv["forwards"],
        serde_json::json!(["tcp 8080 -> 80", "udp 5353 -> 53"]),
        "{nv}"
    );
    let status = t.ok(&["status", "al"]);
    assert!(
        status.contains("tcp 192.0.2.10:9000-9009 -> 7000-7009"),
        "{status}"
    );

    // A forward added to the running jail is loaded live: same jid, new rule, nothing else.
    let before = jid(&t, "nv");
    let f = t.cfg().join("jails/nv.toml");
    let mut text = std::fs::read_to_string(&f).unwrap();
    text.push_str("\n[[ports]]\nhost = 8443\njail = 443\n");
    std::fs::write(&f, text).unwrap();
    let plan = t.ok(&["plan", "nv"]);
    assert!(plan.contains("nv: update live"), "{plan}");
    assert!(plan.contains("reload pf anchor jailctl/nv"), "{plan}");
    t.ok(&["up", "nv"]);
    assert_eq!(jid(&t, "nv"), before, "the jail was restarted");
    let nat = sim(&s, &["pfctl", "-a", "jailctl/nv", "-s", "nat"]);
    assert!(
        nat.contains(
            "rdr on em0 inet proto tcp from any to (em0) port = 8443 -> 10.20.0.40 port 443"
        ),
        "{nat}"
    );
    // Nothing left to do.
    let plan = t.ok(&["plan", "nv", "al"]);
    assert!(!plan.contains("pf"), "{plan}");

    // down: no anchor, no table entry.
    t.ok(&["down", "nv", "al"]);
    assert_eq!(sim(&s, &["pfctl", "-s", "Anchors"]), "");
    let st = state(&s);
    assert!(st.pf.anchors.is_empty(), "{:?}", st.pf.anchors);
    assert_eq!(sim(&s, &["pfctl", "-t", "jailctl_nat", "-T", "show"]), "");
    // And up again loads them all back.
    t.ok(&["up", "nv", "al"]);
    assert_eq!(
        sim(&s, &["pfctl", "-a", "jailctl/*", "-s", "rules"])
            .lines()
            .count(),
        9
    );
}

/// The firewall part of a fingerprint: pf on or off, every rule of every ruleset, every
/// table entry.
fn firewall(f: &crate::support::Fingerprint) -> Vec<(String, String)> {
    f.entries
        .iter()
        .filter(|(k, _)| k.starts_with("pf "))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn inject(t: &TestHost, pattern: &str) {
    std::fs::write(
        t.sim().join("faults.toml"),
        format!(
            "[[fault]]\ncommand = \"{pattern}\"\nstderr = \"pfctl: DIOCXCOMMIT: Device busy\"\n"
        ),
    )
    .unwrap();
}

/// A fault at each pf command `up` runs (load the anchor, add the address to the table),
/// for each (stopped) jail: `up` fails and its undo leaves the whole host, the firewall included, as
/// it was. Then at each command `down` runs (flush, table delete): the jail is started again
/// and the firewall is exactly as before the `down`.
#[test]
fn a_fault_at_each_pf_step_leaves_the_firewall_as_before() {
    // Deployed and stopped: the host layout (made once, kept) and the jails' datasets exist
    // before and after, so the fingerprints compare the start and its undo only.
    let base = pf_host();
    base.ok(&["up", "nv", "al"]);
    base.ok(&["down", "nv", "al"]);
    for jail in ["nv", "al"] {
        for pattern in [
            format!("pfctl -a jailctl/{jail} -f -"),
            "pfctl -t jailctl_nat -T add *".to_string(),
        ] {
            let t = base.copy();
            let before = t.fingerprint();
            inject(&t, &pattern);
            let out = t.run(&["up", jail]);
            assert!(!out.status.success(), "{jail}, {pattern}: up succeeded");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("Device busy"), "{jail}, {pattern}: {err}");
            std::fs::remove_file(t.sim().join("faults.toml")).unwrap();
            crate::support::assert_same(&before, &t.fingerprint());
        }
    }
    let up = base.copy();
    up.ok(&["up", "nv", "al"]);
    for jail in ["nv", "al"] {
        for pattern in [
            format!("pfctl -a jailctl/{jail} -F all"),
            "pfctl -t jailctl_nat -T delete *".to_string(),
        ] {
            let t = up.copy();
            let before = firewall(&t.fingerprint());
            assert!(before.len() > 10, "{before:?}");
            inject(&t, &pattern);
            let out = t.run(&["down", jail]);
            assert!(!out.status.success(), "{jail}, {pattern}: down succeeded");
            std::fs::remove_file(t.sim().join("faults.toml")).unwrap();
            assert_eq!(firewall(&t.fingerprint()), before, "{jail}, {pattern}");
            let running = sim(&t.sim(), &["jls", "-j", jail, "name"]);
            assert_eq!(running.trim(), jail, "{jail}, {pattern}: not started again");
        }
    }
}

#[test]
fn conflicting_forwards_are_refused_with_file_and_line() {
    let t = pf_host();
    // The same host port to two jails.
    t.jail(
        "other",
        "[network]\nmode = \"alias\"\ninterface = \"lo1\"\nip4 = [\"10.30.0.6/24\"]\n\n[[ports]]\nhost = 2222\njail = 22\n",
    );
    let out = t.run(&["validate"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("host port tcp 2222 is also forwarded to jail \"al\""),
        "{err}"
    );
    assert!(
        err.contains("other.toml:6:1") || err.contains("other.toml:"),
        "{err}"
    );
    let before = t.fingerprint();
    let out = t.run(&["up", "other"]);
    assert!(!out.status.success());
    crate::support::assert_same(&before, &t.fingerprint());

    // A port outside 1-65535, and a forward to a jail on a network without NAT.
    t.jail(
        "other",
        "[network]\nmode = \"alias\"\ninterface = \"lo1\"\nip4 = [\"10.30.0.6/24\"]\n\n[[ports]]\nhost = 70000\n",
    );
    let err = String::from_utf8_lossy(&t.run(&["validate"]).stderr).into_owned();
    assert!(err.contains("host port 70000 is outside 1-65535"), "{err}");
    assert!(err.contains("other.toml:7:8"), "{err}");
    t.jail(
        "other",
        "[network]\nmode = \"alias\"\ninterface = \"em0\"\nip4 = [\"192.0.2.77/24\"]\n\n[[ports]]\nhost = 2223\n",
    );
    let err = String::from_utf8_lossy(&t.run(&["validate"]).stderr).into_owned();
    assert!(
        err.contains("a port is forwarded to this jail, but it has no address in a NATed network"),
        "{err}"
    );
    assert!(err.contains("other.toml:6:1"), "{err}");
}

/// The `pf` line of `jailctl doctor`.
fn doctor_pf(t: &TestHost) -> String {
    let out = t.run(&["doctor"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.contains(" pf: "))
        .unwrap_or_else(|| panic!("no pf line: {out:?}"))
        .to_string()
}

/// doctor says whether pf is loaded, whether pf.conf reaches jailctl's anchors (without
/// them the rules load and are never evaluated: the forwards do nothing), and whether pf is
/// enabled, each with its fix.
#[test]
fn doctor_checks_pf_and_the_anchor_lines() {
    let t = pf_host();
    let s = t.sim();
    let line = doctor_pf(&t);
    assert!(line.starts_with("OK"), "{line}");

    // pf.conf without the anchor lines: jailctl's rules load but are not evaluated.
    std::fs::write(s.join("root/etc/pf.conf"), "pass all\n").unwrap();
    sim(&s, &["pfctl", "-f", "/etc/pf.conf"]);
    t.ok(&["up", "al"]);
    let st = state(&s);
    assert!(
        st.pf.anchors.contains_key("jailctl/al"),
        "the rules were not loaded"
    );
    assert!(!st.pf.evaluates("jailctl"));
    assert!(st.pf.effective_rdr().is_empty());
    let line = doctor_pf(&t);
    assert!(line.starts_with("WARN"), "{line}");
    assert!(line.contains("never evaluates them"), "{line}");
    assert!(line.contains("rdr-anchor \"jailctl/*\""), "{line}");
    assert!(line.contains("service pf reload"), "{line}");

    // Anchors back, pf disabled.
    std::fs::write(s.join("root/etc/pf.conf"), PF_CONF).unwrap();
    sim(&s, &["pfctl", "-f", "/etc/pf.conf"]);
    sim(&s, &["pfctl", "-d"]);
    let line = doctor_pf(&t);
    assert!(
        line.starts_with("WARN") && line.contains("not enabled"),
        "{line}"
    );
    sim(&s, &["pfctl", "-e"]);
    assert!(doctor_pf(&t).starts_with("OK"));

    // pf not loaded at all: NATed jails cannot start, and doctor fails.
    t.ok(&["down", "al"]);
    sim(&s, &["kldunload", "pf"]);
    let line = doctor_pf(&t);
    assert!(
        line.starts_with("FAIL") && line.contains("kldload pf"),
        "{line}"
    );
    let out = t.run(&["up", "al"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pf is not loaded") && err.contains("Nothing was changed"),
        "{err}"
    );
}

/// `show` prints the forwards as `[[ports]]`; pasted back as the jail's file, they validate
/// to the same definition (same rules rendered: the plan has nothing to do after `up`).
#[test]
fn show_prints_the_forwards_and_they_read_back_the_same() {
    let t = pf_host();
    let shown = t.ok(&["show", "al"]);
    assert!(shown.contains("[[ports]]"), "{shown}");
    assert!(shown.contains("host = \"9000-9009\""), "{shown}");
    assert!(shown.contains("address = \"192.0.2.10\""), "{shown}");
    let json_before = t.ok(&["show", "al", "--json"]);
    t.jail("al", &shown);
    assert_eq!(t.ok(&["show", "al", "--json"]), json_before);
}

/// A NATed jail whose address changes (a restart) leaves its old address out of the table;
/// one that is no longer NATed leaves no anchor and no table entry behind.
#[test]
fn an_address_change_or_leaving_nat_cleans_up_after_itself() {
    let t = pf_host();
    let s = t.sim();
    t.ok(&["up", "al"]);
    let f = t.cfg().join("jails/al.toml");
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, text.replace("10.30.0.5/24", "10.30.0.6/24")).unwrap();
    t.ok(&["up", "al"]);
    assert_eq!(
        sim(&s, &["pfctl", "-t", "jailctl_nat", "-T", "show"]),
        "   10.30.0.6\n"
    );
    let nat = sim(&s, &["pfctl", "-a", "jailctl/al", "-s", "nat"]);
    assert!(
        nat.contains("-> 10.30.0.6 port 22") && !nat.contains("10.30.0.5"),
        "{nat}"
    );
    // Plain inherit networking now: the restart drops the anchor and the table entry.
    t.jail("al", "[network]\nmode = \"inherit\"\n");
    t.ok(&["up", "al"]);
    assert!(state(&s).pf.anchors.is_empty());
    assert_eq!(sim(&s, &["pfctl", "-t", "jailctl_nat", "-T", "show"]), "");
    let plan = t.ok(&["plan", "al"]);
    assert!(!plan.contains("pf"), "{plan}");
}

/// jailctl killed (SIGKILL) right after each pf command of an `up`, then run again: the
/// second run finishes from the journal and leaves the host, firewall included, exactly as a
/// clean run does.
#[test]
fn killed_after_a_pf_step_then_up_again_converges() {
    use crate::support::kill::{Series, Tally, check};
    let s = Series {
        what: "up of two NATed jails",
        args: &["up", "nv", "al"],
        reference: None,
        template: pf_host(),
    };
    let mut all = Tally {
        trials: 0,
        failures: vec![],
        interrupted: 0,
        with_commands: 0,
    };
    for pattern in [
        "pfctl -a jailctl/nv -f -",
        "pfctl -t jailctl_nat -T add 10.20.0.40",
        "pfctl -a jailctl/al -f -",
    ] {
        let t = s.run_after(pattern, 2);
        all.trials += t.trials;
        all.failures.extend(t.failures);
        all.interrupted += t.interrupted;
        all.with_commands += t.with_commands;
    }
    check(all);
}

/// pf is shared by every jail: each pfctl change takes the firewall's lock
/// (`/var/db/jailctl/locks/.pf.lock`, after the network's in the one order). While another
/// process holds it, `up` of a NATed jail gets as far as its pf steps and waits there; once
/// the lock is free it loads its anchor and finishes.
#[test]
fn pf_changes_wait_for_the_firewall_lock() {
    use nix::fcntl::{Flock, FlockArg};
    let t = pf_host();
    let s = t.sim();
    let dir = s.join("root/var/db/jailctl/locks");
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::fs::File::create(dir.join(".pf.lock")).unwrap();
    let held = Flock::lock(file, FlockArg::LockExclusiveNonblock).unwrap();
    let mut child = t
        .jailctl()
        .args(["up", "al"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let loads = || {
        crate::support::history(&s)
            .iter()
            .filter(|h| crate::support::line(h).starts_with("pfctl -a jailctl/al -f -"))
            .count()
    };
    let started = |hist: &[jailctl_sim::HistoryEntry]| {
        hist.iter().any(|h| {
            crate::support::line(h).starts_with("jail ") && h.cmd.args.contains(&"-c".to_string())
        })
    };
    // Wait (up to 20 s) until the jail is created: its pf steps come right after.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !started(&crate::support::history(&s)) {
        assert!(
            std::time::Instant::now() < deadline,
            "up never reached jail -c"
        );
        assert!(child.try_wait().unwrap().is_none(), "up ended early");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "up finished while another process held the firewall lock"
    );
    assert_eq!(
        loads(),
        0,
        "an anchor was loaded under another's firewall lock"
    );
    drop(held);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "up after the lock was freed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(loads(), 1);
}

/// The simulated host has one standard input for a command, however it comes: the bytes a
/// `Cmd` carries (`Cmd::stdin`, how jailctl loads an anchor) or a stream through
/// `Runner::pipe` (how export and import move zfs streams). pfctl reads either.
#[test]
fn the_simulator_reads_a_commands_stdin_either_way() {
    use jailctl::host::{Cmd, Runner, tools};
    let d = tempfile::tempdir().unwrap();
    let h = SimHost::open_with(d.path(), SimConfig::default()).unwrap();
    let ok = |c: &Cmd| {
        let o = h.output(c).unwrap();
        assert!(o.success(), "{c}: {}", o.stderr);
        o.stdout
    };
    ok(&Cmd::new(tools::KLDLOAD, ["pf"]));
    let rule = "pass in on em0 inet proto tcp from any to 10.30.0.5 port = 22 keep state\n";
    ok(&Cmd::new(tools::PFCTL, ["-a", "jailctl/a", "-f", "-"]).stdin(rule));
    let mut input: &[u8] = rule.as_bytes();
    let o = h
        .pipe(
            &Cmd::new(tools::PFCTL, ["-a", "jailctl/b", "-f", "-"]),
            Some(&mut input),
            None,
            std::time::Duration::from_secs(5),
        )
        .unwrap();
    assert!(o.success(), "{}", o.stderr);
    for anchor in ["jailctl/a", "jailctl/b"] {
        let shown = ok(&Cmd::new(tools::PFCTL, ["-a", anchor, "-s", "rules"]));
        assert!(shown.contains("10.30.0.5"), "{anchor}: {shown:?}");
    }
}

/// Two processes bring up the two NATed jails at once, pfctl and jail(8) slowed so their pf
/// steps overlap; in every other trial one of them is killed (SIGKILL) part-way, and
/// `up nv al` is run again. Every trial must end with the whole host (the firewall's anchors
/// and table included) equal to a plain sequential `up nv al`.
#[test]
fn concurrent_nat_ups_with_kills_end_as_one_sequential_up() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    const TRIALS: u64 = 6;
    let template = pf_host();
    let reference = template.copy();
    reference.ok(&["up", "nv", "al"]);
    let want = reference.fingerprint();
    let mut killed = 0;
    for n in 0..TRIALS {
        let t = template.copy();
        let spawn = |name: &str| {
            t.jailctl()
                .env("JAILCTL_SIM_LATENCY", "pfctl=40ms,jail=20ms")
                .args(["up", name])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        };
        let mut a = spawn("nv");
        let mut b = spawn("al");
        if n % 2 == 1 {
            // From early in the run to around its pf steps.
            std::thread::sleep(std::time::Duration::from_millis(60 + 20 * n));
            let victim = if n % 4 == 1 { &mut a } else { &mut b };
            // Counted only when it was still running (a finished child is a zombie, which
            // kill(2) also accepts).
            if victim.try_wait().unwrap().is_none()
                && kill(Pid::from_raw(victim.id() as i32), Signal::SIGKILL).is_ok()
            {
                killed += 1;
            }
        }
        let _ = a.wait();
        let _ = b.wait();
        t.ok(&["up", "nv", "al"]);
        crate::support::assert_same(&want, &t.fingerprint());
    }
    eprintln!("{TRIALS} trials, {killed} with a process killed");
    assert!(killed > 0, "no trial killed a process");
}
