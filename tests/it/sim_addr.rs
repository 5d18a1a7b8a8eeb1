//! Addresses in `ip4.addr`/`ip6.addr` on the simulated jail(8), as FreeBSD treats them:
//! jail(8) strips the interface, the `/width` and ifconfig options, libjail converts what is
//! left with inet_pton(3) (a bad address fails before anything runs), and the width only
//! reaches ifconfig(8) when the address has an interface, which refuses a bad one.

use jailctl::host::{Cmd, HostFs, Output, Runner, tools};
use jailctl_sim::SimHost;
use std::path::Path;

fn host() -> (tempfile::TempDir, SimHost) {
    let d = tempfile::tempdir().unwrap();
    let h = SimHost::open(&d.path().join("sim")).unwrap();
    h.mkdir_p(Path::new("/jails/web"), 0o755).unwrap();
    (d, h)
}

fn create(h: &SimHost, addr: &str) -> Output {
    h.output(&Cmd::new(
        tools::JAIL,
        ["-c", "name=web", "path=/jails/web", "persist", addr],
    ))
    .unwrap()
}

fn jls_ip4(h: &SimHost) -> Option<String> {
    let o = h
        .output(&Cmd::new(tools::JLS, ["-j", "web", "ip4.addr"]))
        .unwrap();
    o.success().then(|| o.stdout.trim().to_string())
}

#[test]
fn a_width_above_32_fails_in_ifconfig_and_nothing_is_left() {
    let (_d, h) = host();
    let o = create(&h, "ip4.addr=em0|10.0.0.1/33");
    assert_eq!(o.status, 1);
    assert_eq!(
        o.stderr,
        "ifconfig: 10.0.0.1/33: bad value (width too large)\njail: web: /sbin/ifconfig em0 inet 10.0.0.1/33 alias: failed\n"
    );
    assert_eq!(jls_ip4(&h), None);
    let o = create(&h, "ip4.addr=em0|10.0.0.1/2x");
    assert!(
        o.stderr
            .starts_with("ifconfig: 10.0.0.1/2x: bad value (width invalid)\n"),
        "{o:?}"
    );
}

#[test]
fn without_an_interface_the_width_is_dropped_as_jail8_does() {
    // jail(8) strips `/33` before the kernel sees the address and runs no ifconfig.
    let (_d, h) = host();
    let o = create(&h, "ip4.addr=10.0.0.1/33");
    assert!(o.success(), "{o:?}");
    assert_eq!(jls_ip4(&h).as_deref(), Some("10.0.0.1"));
}

#[test]
fn an_address_inet_pton_rejects_fails_before_anything_runs() {
    let (_d, h) = host();
    for (param, bad, fam) in [
        ("ip4.addr", "em0|10.0.0.300/24", "IPv4"),
        ("ip4.addr", "10.0.0.1.5", "IPv4"),
        ("ip6.addr", "em0|2001:db8::zz/64", "IPv6"),
    ] {
        let o = create(&h, &format!("{param}={bad}"));
        let ip = bad
            .split('|')
            .next_back()
            .unwrap()
            .split('/')
            .next()
            .unwrap();
        assert_eq!(
            (o.status, o.stderr.as_str()),
            (
                1,
                format!("jail: web: {param}: not an {fam} address: {ip}\n").as_str()
            )
        );
    }
    let st = h.snapshot().unwrap();
    assert!(
        !st.history.iter().any(|e| e.cmd.program == tools::IFCONFIG),
        "ifconfig ran for a bad address"
    );
    assert_eq!(jls_ip4(&h), None);
}
