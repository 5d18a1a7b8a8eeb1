//! The simulated host's kernel-side tools (jail, jls, jexec, rctl, cpuset, ifconfig, mount,
//! sysctl): strictness (each wrong or impossible command fails with the real exit status and
//! message) and whole scenarios (create/remove round trips, undo, dying vnet jails).

use jailctl::host::{Cmd, HostFs, Output, Runner, tools};
use jailctl::observe;
use jailctl_sim::SimHost;
use std::path::Path;
use tempfile::TempDir;

fn host() -> (TempDir, SimHost) {
    let d = tempfile::tempdir().unwrap();
    let h = SimHost::open(d.path()).unwrap();
    (d, h)
}

fn run(h: &SimHost, prog: &str, args: &[&str]) -> Output {
    h.output(&Cmd::new(prog, args.iter().copied())).unwrap()
}

fn ok(h: &SimHost, prog: &str, args: &[&str]) -> Output {
    let o = run(h, prog, args);
    assert_eq!(o.status, 0, "{prog} {args:?}: {o:?}");
    o
}

fn mkdir(h: &SimHost, p: &str) {
    h.mkdir_p(Path::new(p), 0o755).unwrap();
}

fn none(_: &SimHost) {}

/// Write a host file, creating its directory.
fn write(h: &SimHost, p: &str, text: &str) {
    mkdir(h, Path::new(p).parent().unwrap().to_str().unwrap());
    h.write(Path::new(p), text.as_bytes(), 0o644).unwrap();
}

/// A running persistent jail `web` (jid 1) at /jails/web with /jails/web/dev.
fn web(h: &SimHost) {
    mkdir(h, "/jails/web/dev");
    ok(
        h,
        tools::JAIL,
        &[
            "-c",
            "name=web",
            "path=/jails/web",
            "host.hostname=web.example",
            "persist",
        ],
    );
}

/// A running vnet jail `vweb` holding epair0b.
fn vweb(h: &SimHost) {
    mkdir(h, "/jails/vweb");
    ok(h, tools::IFCONFIG, &["epair0", "create"]);
    ok(
        h,
        tools::JAIL,
        &[
            "-c",
            "name=vweb",
            "path=/jails/vweb",
            "vnet",
            "vnet.interface=epair0b",
            "persist",
        ],
    );
}

fn set_sysctl(h: &SimHost, oid: &str, v: Option<&str>) {
    h.with_state(|ctx| match v {
        Some(v) => {
            ctx.state.sysctl.values.insert(oid.into(), v.into());
        }
        None => {
            ctx.state.sysctl.values.remove(oid);
        }
    })
    .unwrap();
}

// ------------------------------------------------------------------ jail(8)

/// One jail(8) command (after writing `conf` to /etc/j.conf): its exit status, its exact
/// stderr, and what must hold afterwards.
struct Case {
    what: &'static str,
    setup: fn(&SimHost),
    conf: Option<&'static str>,
    args: &'static [&'static str],
    status: i32,
    stderr: &'static str,
    after: fn(&SimHost),
}

const CREATE_WEB: &[&str] = &["-f", "/etc/j.conf", "-c", "web"];

fn root(h: &SimHost) {
    mkdir(h, "/jails/web");
}

fn no_web(h: &SimHost) {
    assert_eq!(
        run(h, tools::JLS, &["-j", "web"]).status,
        1,
        "web was created"
    );
}

fn hostname(h: &SimHost) -> String {
    ok(h, tools::JLS, &["-j", "web", "host.hostname"])
        .stdout
        .trim_end()
        .to_string()
}

/// Every jail(8) strictness case in one table (the kernel-side and command-line cases, then
/// the jail.conf cases checked against FreeBSD's parser).
#[test]
fn jail_strictness() {
    let cases = [
        Case {
            what: "create existing",
            setup: web,
            conf: None,
            after: none,
            args: &["-c", "name=web", "path=/jails/web", "persist"],
            status: 1,
            stderr: "jail: \"web\" already exists\n",
        },
        Case {
            what: "remove unknown",
            setup: none,
            conf: None,
            after: none,
            args: &["-r", "nope"],
            status: 1,
            stderr: "jail: \"nope\" not found\n",
        },
        Case {
            what: "path missing",
            setup: none,
            conf: None,
            after: none,
            args: &["-c", "name=x", "path=/nope", "persist"],
            status: 1,
            stderr: "jail: x: path /nope: No such file or directory\n",
        },
        Case {
            what: "path not a directory",
            setup: |h: &SimHost| h.write(Path::new("/f"), b"x", 0o644).unwrap(),
            conf: None,
            after: none,
            args: &["-c", "name=x", "path=/f", "persist"],
            status: 1,
            stderr: "jail: x: path /f: Not a directory\n",
        },
        Case {
            what: "path relative",
            setup: none,
            conf: None,
            after: none,
            args: &["-c", "name=x", "path=jails/x", "persist"],
            status: 1,
            stderr: "jail: x: path jails/x: not an absolute pathname\n",
        },
        Case {
            what: "unknown parameter",
            setup: |h: &SimHost| mkdir(h, "/jails/web"),
            conf: None,
            after: none,
            args: &[
                "-c",
                "name=web",
                "path=/jails/web",
                "persist",
                "allow.bogus",
            ],
            status: 1,
            stderr: "jail: web: unknown parameter: allow.bogus\n",
        },
        Case {
            what: "vnet cannot change",
            setup: web,
            conf: None,
            after: none,
            args: &["-m", "name=web", "vnet=new"],
            status: 1,
            stderr: "jail: web: vnet cannot be changed after creation\n",
        },
        Case {
            what: "needs persist or command",
            setup: |h: &SimHost| mkdir(h, "/jails/web"),
            conf: None,
            after: none,
            args: &["-c", "name=web", "path=/jails/web"],
            status: 1,
            stderr: "jail: web: no command or persist specified\n",
        },
        Case {
            // command.c check_path: every component below the jail's path is lstat(2)ed;
            // a link there (a jail's root user could plant one) fails the jail, and nothing
            // is mounted where it points.
            what: "mount point is a symbolic link",
            setup: |h: &SimHost| {
                mkdir(h, "/jails/web");
                mkdir(h, "/etc");
                std::os::unix::fs::symlink("/etc", h.local_path(Path::new("/jails/web/dev")))
                    .unwrap();
            },
            conf: None,
            after: |h: &SimHost| {
                let mounts = ok(h, tools::MOUNT, &["-p"]).stdout;
                assert!(!mounts.contains("devfs"), "{mounts}");
                assert!(h.snapshot().unwrap().jail.jails.is_empty());
            },
            args: &[
                "-c",
                "name=web",
                "path=/jails/web",
                "persist",
                "mount.devfs",
            ],
            status: 1,
            stderr: "jail: web: mount.devfs: /jails/web/dev is a symbolic link\n",
        },
        Case {
            what: "mount point missing",
            setup: |h: &SimHost| mkdir(h, "/jails/web"),
            conf: None,
            after: none,
            args: &[
                "-c",
                "name=web",
                "path=/jails/web",
                "persist",
                "mount.devfs",
            ],
            status: 1,
            // jail(8) lstats the mount point itself before running mount(8) (command.c,
            // check_path): the missing directory is its own error, mount(8) never runs.
            stderr: "jail: web: mount.devfs: /jails/web/dev: No such file or directory\n",
        },
        Case {
            what: "alias on missing interface",
            setup: |h: &SimHost| mkdir(h, "/jails/web"),
            conf: None,
            after: none,
            args: &[
                "-c",
                "name=web",
                "path=/jails/web",
                "persist",
                "ip4.addr=em9|10.0.0.5/24",
            ],
            status: 1,
            stderr: "ifconfig: interface em9 does not exist\njail: web: /sbin/ifconfig em9 inet 10.0.0.5/24 alias: failed\n",
        },
        Case {
            what: "needs an operation",
            setup: none,
            conf: None,
            after: none,
            args: &["name=web", "persist"],
            status: 1,
            stderr: jailctl_sim::jail::USAGE,
        },
        Case {
            what: "modify unknown",
            setup: none,
            conf: None,
            after: none,
            args: &["-m", "name=nope", "persist"],
            status: 1,
            stderr: "jail: \"nope\" not found\n",
        },
        Case {
            what: "hook failure",
            setup: |h: &SimHost| mkdir(h, "/jails/web"),
            conf: None,
            after: none,
            args: &[
                "-c",
                "name=web",
                "path=/jails/web",
                "persist",
                "exec.prestart=/usr/bin/false",
            ],
            status: 1,
            stderr: "jail: web: /usr/bin/false: failed\n",
        },
        Case {
            what: "conf missing",
            setup: none,
            conf: None,
            after: none,
            args: &["-f", "/etc/nope.conf", "-c", "web"],
            status: 1,
            stderr: "jail: /etc/nope.conf: No such file or directory\n",
        },
        Case {
            what: "conf syntax error",
            setup: |h: &SimHost| write(h, "/etc/j.conf", "web {\n  persist\n}\n"),
            conf: None,
            after: none,
            args: &["-f", "/etc/j.conf", "-c", "web"],
            status: 1,
            stderr: "jail: /etc/j.conf line 3: }: syntax error\n",
        },
        Case {
            what: "not in conf",
            setup: |h: &SimHost| write(h, "/etc/j.conf", "web { persist; }\n"),
            conf: None,
            after: none,
            args: &["-f", "/etc/j.conf", "-c", "db"],
            status: 1,
            stderr: "jail: \"db\" not found\n",
        },
        Case {
            what: "conf undefined variable",
            setup: |h: &SimHost| {
                write(
                    h,
                    "/etc/j.conf",
                    "web { persist; path = \"/jails/$nope\"; }\n",
                )
            },
            conf: None,
            after: none,
            args: &["-f", "/etc/j.conf", "-c", "web"],
            status: 1,
            stderr: "jail: web: path: variable \"nope\" not found\n",
        },
        Case {
            what: "vnet interface missing",
            setup: |h: &SimHost| mkdir(h, "/j"),
            conf: None,
            after: none,
            args: &[
                "-c",
                "name=v",
                "path=/j",
                "vnet",
                "vnet.interface=epair7b",
                "persist",
            ],
            status: 1,
            stderr: "ifconfig: interface epair7b does not exist\njail: v: /sbin/ifconfig epair7b vnet 1: failed\n",
        },
        // jail.conf cases where the simulator used to differ from FreeBSD's jail(8); the
        // expected values are FreeBSD 14's (jaillex.l, jailparse.y, config.c, command.c).
        Case {
            what: "an unquoted * is a piece of its own, not part of a jail name",
            setup: root,
            conf: Some("web { path = /jails/web; persist; }\nweb.* { }\n"),
            args: CREATE_WEB,
            status: 1,
            stderr: "jail: /etc/j.conf line 2: *: syntax error\n",
            after: no_web,
        },
        Case {
            what: "backslash-newline continues an unquoted value",
            setup: root,
            conf: Some("web {\n path = /jails/web; persist;\n host.hostname = web\\\nhost;\n}\n"),
            args: CREATE_WEB,
            status: 0,
            stderr: "",
            after: |h: &SimHost| assert_eq!(hostname(h), "webhost"),
        },
        Case {
            what: "name cannot be redefined",
            setup: root,
            conf: Some("web { path = /jails/web; persist; name = \"other\"; }\n"),
            args: CREATE_WEB,
            status: 1,
            stderr: "jail: web: cannot redefine parameter \"name\".\n",
            after: no_web,
        },
        Case {
            what: "a variable named like a parameter",
            setup: root,
            conf: Some("$persist = \"x\";\nweb { path = /jails/web; }\n"),
            args: CREATE_WEB,
            status: 1,
            stderr: "jail: web: variable \"$persist\" cannot have the same name as a parameter.\n",
            after: no_web,
        },
        Case {
            what: "variable loop",
            setup: root,
            conf: Some(
                "$a = \"$b\"; $b = \"$a\";\nweb { path = /jails/web; persist; host.hostname = $a; }\n",
            ),
            args: CREATE_WEB,
            status: 1,
            stderr: "jail: web: a: variable loop\n",
            after: no_web,
        },
        Case {
            what: "a list inside a string",
            setup: root,
            conf: Some(
                "$l = a, b;\nweb { path = /jails/web; persist; exec.prestart = \"echo $l\"; }\n",
            ),
            args: CREATE_WEB,
            status: 1,
            stderr: "jail: web: exec.prestart: array cannot be substituted inline\n",
            after: no_web,
        },
        Case {
            what: "unterminated variable",
            setup: root,
            conf: Some("web { path = /jails/web; persist; host.hostname = \"${x\"; }\n"),
            args: CREATE_WEB,
            status: 1,
            stderr: "jail: /etc/j.conf line 1: unterminated variable\n",
            after: no_web,
        },
        Case {
            what: "an unclosed comment is reported where flex stops reading it",
            setup: root,
            conf: Some("/* web\n{ path = /jails/web; persist; }"),
            args: CREATE_WEB,
            status: 1,
            stderr: "jail: /etc/j.conf line 2: unterminated comment\n",
            after: no_web,
        },
        Case {
            what: "a variable in an include",
            setup: root,
            conf: Some("$f = x;\n.include \"$f\";\nweb { path = /jails/web; persist; }\n"),
            args: CREATE_WEB,
            status: 1,
            stderr: "jail: /etc/j.conf line 2: variables not permitted in '.include' filename\n",
            after: no_web,
        },
        Case {
            what: "an include loop",
            setup: root,
            conf: Some(".include \"j.conf\";\nweb { path = /jails/web; persist; }\n"),
            args: CREATE_WEB,
            status: 1,
            stderr: "jail: maximum include depth exceeded\n",
            after: no_web,
        },
        Case {
            what: "mount fields are split on ASCII blanks only",
            setup: |h: &SimHost| mkdir(h, "/jails/web/mnt"),
            conf: Some(
                "web { path = /jails/web; persist; mount = \"/src\u{a0}x /jails/web/mnt nullfs ro 0 0\"; }\n",
            ),
            args: CREATE_WEB,
            status: 1,
            stderr: "mount_nullfs: /src\u{a0}x: No such file or directory\njail: web: /sbin/mount -t nullfs -o ro '/src\u{a0}x' /jails/web/mnt: failed\n",
            after: no_web,
        },
        Case {
            what: "a NUL byte ends a value",
            setup: root,
            conf: Some("web { path = /jails/web; persist; host.hostname = \"web\\0x\"; }\n"),
            args: CREATE_WEB,
            status: 0,
            stderr: "",
            after: |h: &SimHost| assert_eq!(hostname(h), "web"),
        },
    ];
    let mut bad = vec![];
    for c in cases {
        let (_d, h) = host();
        (c.setup)(&h);
        if let Some(text) = c.conf {
            write(&h, "/etc/j.conf", text);
        }
        let o = run(&h, tools::JAIL, c.args);
        if (o.status, o.stderr.as_str()) != (c.status, c.stderr) {
            bad.push(format!(
                "{}: jail {:?}\n  want {} {:?}\n  got  {} {:?}",
                c.what, c.args, c.status, c.stderr, o.status, o.stderr
            ));
            continue;
        }
        (c.after)(&h);
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

// ------------------------------------------------------------------ jls(8), jexec(8)

/// One command of a kernel-side tool other than jail(8) (jls, jexec, rctl, cpuset, ifconfig,
/// mount, umount, sysctl) on a host prepared by `setup`: its exit status and its exact stderr.
struct Strict<'a> {
    what: &'a str,
    setup: fn(&SimHost),
    prog: &'a str,
    args: &'a [&'a str],
    status: i32,
    stderr: &'a str,
}

/// Every strictness case of the tools other than jail(8), one row each; a failing run lists
/// every row that differs.
#[test]
fn tool_strictness() {
    let rows = [
        Strict {
            what: "jls unknown jail",
            setup: web,
            prog: tools::JLS,
            args: &["-j", "nope"],
            status: 1,
            stderr: "jls: jail \"nope\" not found\n",
        },
        Strict {
            what: "jls unknown parameter",
            setup: web,
            prog: tools::JLS,
            args: &["-j", "web", "bogus"],
            status: 1,
            stderr: "jls: unknown parameter: bogus\n",
        },
        Strict {
            what: "jls bad option",
            setup: none,
            prog: tools::JLS,
            args: &["-x"],
            status: 1,
            stderr: "usage: jls [-dhNnqsv] [-j jail] [param ...]\n",
        },
        Strict {
            what: "jls dying needs d",
            setup: |h: &SimHost| {
                vweb(h);
                ok(h, tools::JAIL, &["-r", "vweb"]);
            },
            prog: tools::JLS,
            args: &["-j", "vweb"],
            status: 1,
            stderr: "jls: jail \"vweb\" not found\n",
        },
        Strict {
            what: "jexec unknown jail",
            setup: none,
            prog: tools::JEXEC,
            args: &["nope", "/bin/sh"],
            status: 1,
            stderr: "jexec: jail \"nope\" not found\n",
        },
        Strict {
            what: "jexec unknown command",
            setup: web,
            prog: tools::JEXEC,
            args: &["web", "/usr/local/bin/nothing", "-x"],
            status: 1,
            stderr: "jexec: execvp: /usr/local/bin/nothing: No such file or directory\n",
        },
        Strict {
            what: "jexec cat missing file",
            setup: web,
            prog: tools::JEXEC,
            args: &["web", "cat", "/etc/nope"],
            status: 1,
            stderr: "cat: /etc/nope: No such file or directory\n",
        },
        Strict {
            what: "jexec shell exit status",
            setup: web,
            prog: tools::JEXEC,
            args: &["web", "/bin/sh", "-c", "exit 3"],
            status: 3,
            stderr: "",
        },
        Strict {
            what: "jexec service missing",
            setup: web,
            prog: tools::JEXEC,
            args: &["web", "service", "nginx", "status"],
            status: 1,
            stderr: "nginx does not exist in /etc/rc.d or the local startup\ndirectories (/usr/local/etc/rc.d), or is not executable\n",
        },
        Strict {
            what: "jexec no jail",
            setup: none,
            prog: tools::JEXEC,
            args: &["-l"],
            status: 1,
            stderr: "usage: jexec [-l] [-u username | -U username] jail [command ...]\n",
        },
        Strict {
            what: "rctl deny cputime",
            setup: none,
            prog: tools::RCTL,
            args: &["-a", "jail:web:cputime:deny=10"],
            status: 1,
            stderr: "rctl: failed to add rule 'jail:web:cputime:deny=10': Operation not supported\n",
        },
        Strict {
            what: "rctl deny readbps",
            setup: none,
            prog: tools::RCTL,
            args: &["-a", "jail:web:readbps:deny=1m"],
            status: 1,
            stderr: "rctl: failed to add rule 'jail:web:readbps:deny=1m': Operation not supported\n",
        },
        Strict {
            what: "rctl throttle memory",
            setup: none,
            prog: tools::RCTL,
            args: &["-a", "jail:web:memoryuse:throttle=1g"],
            status: 1,
            stderr: "rctl: failed to add rule 'jail:web:memoryuse:throttle=1g': Operation not supported\n",
        },
        Strict {
            what: "rctl unknown resource",
            setup: none,
            prog: tools::RCTL,
            args: &["-a", "jail:web:memory:deny=1g"],
            status: 1,
            stderr: "rctl: failed to add rule 'jail:web:memory:deny=1g': Invalid argument\n",
        },
        Strict {
            what: "rctl unknown subject",
            setup: none,
            prog: tools::RCTL,
            args: &["-a", "zone:web:memoryuse:deny=1g"],
            status: 1,
            stderr: "rctl: failed to add rule 'zone:web:memoryuse:deny=1g': Invalid argument\n",
        },
        Strict {
            what: "rctl unknown action",
            setup: none,
            prog: tools::RCTL,
            args: &["-a", "jail:web:memoryuse:kill=1g"],
            status: 1,
            stderr: "rctl: failed to add rule 'jail:web:memoryuse:kill=1g': Invalid argument\n",
        },
        Strict {
            what: "rctl missing resource",
            setup: none,
            prog: tools::RCTL,
            args: &["-a", "jail:web"],
            status: 1,
            stderr: "rctl: malformed rule 'jail:web': missing resource\n",
        },
        Strict {
            what: "rctl bad amount",
            setup: none,
            prog: tools::RCTL,
            args: &["-a", "jail:web:memoryuse:deny=2x"],
            status: 1,
            stderr: "rctl: malformed rule 'jail:web:memoryuse:deny=2x': invalid numeric value '2x'\n",
        },
        Strict {
            what: "rctl status counts failures",
            setup: none,
            prog: tools::RCTL,
            args: &[
                "-a",
                "jail:web:cputime:deny=1",
                "jail:web:maxproc:deny=10",
                "jail:web:bogus:deny=1",
            ],
            status: 2,
            stderr: "rctl: failed to add rule 'jail:web:cputime:deny=1': Operation not supported\nrctl: failed to add rule 'jail:web:bogus:deny=1': Invalid argument\n",
        },
        Strict {
            what: "rctl racct disabled",
            setup: |h: &SimHost| set_sysctl(h, "kern.racct.enable", Some("0")),
            prog: tools::RCTL,
            args: &["-a", "jail:web:maxproc:deny=10"],
            status: 1,
            stderr: "rctl: RACCT/RCTL present, but disabled; enable using kern.racct.enable=1 tunable\n",
        },
        Strict {
            what: "rctl racct absent",
            setup: |h: &SimHost| set_sysctl(h, "kern.racct.enable", None),
            prog: tools::RCTL,
            args: &[],
            status: 1,
            stderr: "rctl: RACCT/RCTL support not present in kernel; see rctl(8) for details\n",
        },
        Strict {
            what: "rctl remove nothing",
            setup: none,
            prog: tools::RCTL,
            args: &["-r", "jail:web"],
            status: 1,
            stderr: "rctl: failed to remove rule 'jail:web': No such process\n",
        },
        Strict {
            what: "rctl usage not running",
            setup: none,
            prog: tools::RCTL,
            args: &["-u", "jail:web"],
            status: 1,
            stderr: "rctl: failed to get resource utilization for 'jail:web': No such process\n",
        },
        Strict {
            what: "rctl two modes",
            setup: none,
            prog: tools::RCTL,
            args: &["-a", "jail:web:maxproc:deny=1", "-r", "jail:web"],
            status: 1,
            stderr: "usage: rctl [ -h ] [-a rule | -l filter | -r filter | -u filter | filter]\n",
        },
        Strict {
            what: "cpuset malformed list",
            setup: web,
            prog: tools::CPUSET,
            args: &["-l", "3-1", "-j", "web"],
            status: 1,
            stderr: "cpuset: Malformed cpu-list 3-1\n",
        },
        Strict {
            what: "cpuset beyond ncpu",
            setup: web,
            prog: tools::CPUSET,
            args: &["-l", "0-7", "-j", "web"],
            status: 1,
            stderr: "cpuset: setaffinity: Resource deadlock avoided\n",
        },
        Strict {
            what: "cpuset unknown jail",
            setup: none,
            prog: tools::CPUSET,
            args: &["-g", "-j", "nope"],
            status: 1,
            stderr: "cpuset: jail \"nope\" not found\n",
        },
        Strict {
            what: "cpuset get without target",
            setup: none,
            prog: tools::CPUSET,
            args: &["-g"],
            status: 1,
            stderr: "usage: cpuset [-l cpu-list] [-n policy:domain-list] [-s setid] cmd ...\n       cpuset [-l cpu-list] [-n policy:domain-list] [-s setid]\n              [-j jailid | -p pid | -t tid | -x irq]\n       cpuset -g [-cir] [-d domain | -j jailid | -p pid | -t tid | -x irq]\n",
        },
        Strict {
            what: "ifconfig missing interface",
            setup: none,
            prog: tools::IFCONFIG,
            args: &["em9", "up"],
            status: 1,
            stderr: "ifconfig: interface em9 does not exist\n",
        },
        Strict {
            what: "ifconfig epair unit exists",
            setup: |h: &SimHost| {
                ok(h, tools::IFCONFIG, &["epair0", "create"]);
            },
            prog: tools::IFCONFIG,
            args: &["epair0", "create"],
            status: 1,
            stderr: "ifconfig: SIOCIFCREATE2: File exists\n",
        },
        Strict {
            what: "ifconfig bridge unit exists",
            setup: |h: &SimHost| {
                ok(h, tools::IFCONFIG, &["bridge0", "create"]);
            },
            prog: tools::IFCONFIG,
            args: &["bridge0", "create"],
            status: 1,
            stderr: "ifconfig: SIOCIFCREATE2: File exists\n",
        },
        Strict {
            what: "ifconfig name too long",
            setup: |h: &SimHost| {
                ok(h, tools::IFCONFIG, &["epair0", "create"]);
            },
            prog: tools::IFCONFIG,
            args: &["epair0a", "name", "e0a_webserver01x"],
            status: 1,
            stderr: "ifconfig: ioctl SIOCSIFNAME (set name): File name too long\n",
        },
        Strict {
            what: "ifconfig name taken",
            setup: |h: &SimHost| {
                ok(h, tools::IFCONFIG, &["epair0", "create"]);
            },
            prog: tools::IFCONFIG,
            args: &["epair0a", "name", "em0"],
            status: 1,
            stderr: "ifconfig: ioctl SIOCSIFNAME (set name): File exists\n",
        },
        Strict {
            what: "ifconfig remove absent alias",
            setup: none,
            prog: tools::IFCONFIG,
            args: &["em0", "inet", "192.0.2.99", "-alias"],
            status: 1,
            stderr: "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address\n",
        },
        Strict {
            what: "ifconfig duplicate alias",
            setup: none,
            prog: tools::IFCONFIG,
            args: &["em0", "inet", "192.0.2.10/24", "alias"],
            status: 1,
            stderr: "ifconfig: ioctl (SIOCAIFADDR): File exists\n",
        },
        Strict {
            what: "ifconfig bad address",
            setup: none,
            prog: tools::IFCONFIG,
            args: &["em0", "inet", "10.0.0.300/24", "alias"],
            status: 1,
            stderr: "ifconfig: 10.0.0.300: bad value\n",
        },
        Strict {
            what: "ifconfig vnet unknown jail",
            setup: |h: &SimHost| {
                ok(h, tools::IFCONFIG, &["epair0", "create"]);
            },
            prog: tools::IFCONFIG,
            args: &["epair0b", "vnet", "nope"],
            status: 1,
            stderr: "ifconfig: jail \"nope\" not found\n",
        },
        Strict {
            what: "ifconfig vnet into non vnet jail",
            setup: |h: &SimHost| {
                web(h);
                ok(h, tools::IFCONFIG, &["epair0", "create"]);
            },
            prog: tools::IFCONFIG,
            args: &["epair0b", "vnet", "web"],
            status: 1,
            stderr: "ifconfig: SIOCSIFVNET: File exists\n",
        },
        Strict {
            what: "ifconfig destroy physical",
            setup: none,
            prog: tools::IFCONFIG,
            args: &["em0", "destroy"],
            status: 1,
            stderr: "ifconfig: SIOCIFDESTROY: Invalid argument\n",
        },
        Strict {
            what: "ifconfig addm missing member",
            setup: |h: &SimHost| {
                ok(h, tools::IFCONFIG, &["bridge0", "create"]);
            },
            prog: tools::IFCONFIG,
            args: &["bridge0", "addm", "epair3a"],
            status: 1,
            stderr: "ifconfig: BRDGADD epair3a: No such file or directory\n",
        },
        Strict {
            what: "ifconfig interface in vnet is gone",
            setup: vweb,
            prog: tools::IFCONFIG,
            args: &["epair0b", "up"],
            status: 1,
            stderr: "ifconfig: interface epair0b does not exist\n",
        },
        Strict {
            what: "mount target missing",
            setup: |h: &SimHost| mkdir(h, "/src"),
            prog: tools::MOUNT,
            args: &["-t", "nullfs", "/src", "/mnt/x"],
            status: 1,
            stderr: "mount_nullfs: /mnt/x: No such file or directory\n",
        },
        Strict {
            what: "mount source missing",
            setup: |h: &SimHost| mkdir(h, "/mnt/x"),
            prog: tools::MOUNT,
            args: &["-t", "nullfs", "-o", "ro", "/nosrc", "/mnt/x"],
            status: 1,
            stderr: "mount_nullfs: /nosrc: No such file or directory\n",
        },
        Strict {
            what: "mount target not directory",
            setup: |h: &SimHost| h.write(Path::new("/f"), b"", 0o644).unwrap(),
            prog: tools::MOUNT,
            args: &["-t", "devfs", "devfs", "/f"],
            status: 1,
            stderr: "mount: /f: Not a directory\n",
        },
        Strict {
            what: "mount point too long",
            setup: |h: &SimHost| mkdir(h, &format!("/{}", "d".repeat(90))),
            prog: tools::MOUNT,
            args: &["-t", "devfs", "devfs", &format!("/{}", "d".repeat(90))],
            status: 1,
            stderr: &format!("mount: /{}: File name too long\n", "d".repeat(90)),
        },
        Strict {
            what: "umount not mounted",
            setup: |h: &SimHost| mkdir(h, "/jails/web"),
            prog: tools::UMOUNT,
            args: &["/jails/web"],
            status: 1,
            stderr: "umount: /jails/web: not a file system root directory\n",
        },
        Strict {
            what: "umount busy",
            setup: |h: &SimHost| {
                mkdir(h, "/base");
                mkdir(h, "/jails/web/dev");
                ok(h, tools::MOUNT, &["-t", "nullfs", "/base", "/jails/web"]);
                ok(h, tools::MOUNT, &["-t", "devfs", "devfs", "/jails/web/dev"]);
            },
            prog: tools::UMOUNT,
            args: &["/jails/web"],
            status: 1,
            stderr: "umount: unmount of /jails/web failed: Device busy\n",
        },
        Strict {
            what: "umount missing path",
            setup: none,
            prog: tools::UMOUNT,
            args: &["/nope"],
            status: 1,
            stderr: "umount: /nope: statfs: No such file or directory\n",
        },
        Strict {
            what: "sysctl unknown oid",
            setup: none,
            prog: tools::SYSCTL,
            args: &["-n", "kern.bogus"],
            status: 1,
            stderr: "sysctl: unknown oid 'kern.bogus'\n",
        },
        Strict {
            what: "sysctl racct is a tunable",
            setup: none,
            prog: tools::SYSCTL,
            args: &["kern.racct.enable=1"],
            status: 1,
            stderr: "sysctl: oid 'kern.racct.enable' is a read only tunable\nsysctl: Tunable values are set in /boot/loader.conf\n",
        },
        Strict {
            what: "sysctl ncpu read only",
            setup: none,
            prog: tools::SYSCTL,
            args: &["hw.ncpu=8"],
            status: 1,
            stderr: "sysctl: oid 'hw.ncpu' is read only\n",
        },
        Strict {
            what: "jail unmodelled flag",
            setup: none,
            prog: tools::JAIL,
            args: &["-J", "/tmp/j", "-c", "name=x", "persist"],
            status: 1,
            stderr: "jail: -J is not modelled by the simulated host\n",
        },
    ];
    let mut bad = vec![];
    for r in &rows {
        let (_d, h) = host();
        (r.setup)(&h);
        let o = run(&h, r.prog, r.args);
        if (o.status, o.stderr.as_str()) != (r.status, r.stderr) {
            bad.push(format!(
                "{}: {} {:?}\n  want {} {:?}\n  got  {} {:?}",
                r.what, r.prog, r.args, r.status, r.stderr, o.status, o.stderr
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    // Not vacuous: every tool has its rows.
    for t in [
        tools::JLS,
        tools::JEXEC,
        tools::RCTL,
        tools::CPUSET,
        tools::IFCONFIG,
        tools::MOUNT,
        tools::UMOUNT,
        tools::SYSCTL,
    ] {
        assert!(rows.iter().any(|r| r.prog == t), "no row for {t}");
    }
}

// ------------------------------------------------------------------ rctl(8)

// ------------------------------------------------------------------ cpuset(1)

// ------------------------------------------------------------------ ifconfig(8)

// ------------------------------------------------------------------ mount(8), umount(8)

// ------------------------------------------------------------------ sysctl(8)

// ------------------------------------------------------------------ scenarios

const WEB_CONF: &str = r#"$base = "/jails";
exec.start = "/bin/sh /etc/rc"; exec.stop = "/bin/sh /etc/rc.shutdown jail";
exec.clean; mount.devfs; path = "$base/$name";
exec.prestart = "logger starting $name";
exec.poststop = "logger stopped $name";
web {
    host.hostname = "web.example";
    ip4.addr = "em0|192.0.2.50/24";
    ip4.addr += "lo1|127.0.1.5";
    ip6.addr = "em0|2001:db8::50/64";
    mount += "/jails/base /jails/web/base nullfs ro 0 0";
    mount.procfs;
}
"#;

fn web_conf_host(h: &SimHost) {
    mkdir(h, "/jails/web/dev");
    mkdir(h, "/jails/web/proc");
    mkdir(h, "/jails/web/base");
    mkdir(h, "/jails/base");
    write(h, "/etc/jail.conf", WEB_CONF);
    ok(h, tools::IFCONFIG, &["lo1", "create"]);
}

#[test]
fn conf_round_trip_leaves_nothing_behind() {
    let (_d, h) = host();
    web_conf_host(&h);
    let before = h.snapshot().unwrap();
    let o = ok(&h, tools::JAIL, &["-f", "/etc/jail.conf", "-c", "web"]);
    assert_eq!(o.stdout, "web: created\n");
    let ifl = ok(&h, tools::IFCONFIG, &["em0"]).stdout;
    assert!(ifl.contains("inet 192.0.2.50 netmask 0xffffff00"), "{ifl}");
    assert!(ifl.contains("inet6 2001:db8::50 prefixlen 64"), "{ifl}");
    let mounts = observe::mount::parse_mount_p(&ok(&h, tools::MOUNT, &["-p"]).stdout).unwrap();
    // ZFS filesystems are listed too (fstype zfs); this test is about the jail's mounts.
    let targets: Vec<&str> = mounts
        .iter()
        .filter(|m| m.fstype != "zfs")
        .map(|m| m.target.as_str())
        .collect();
    assert_eq!(
        targets,
        ["/jails/web/base", "/jails/web/dev", "/jails/web/proc"]
    );
    assert_eq!(
        mounts.iter().find(|m| m.fstype != "zfs").unwrap().options,
        "ro"
    );
    let json = ok(&h, tools::JLS, observe::jls::JLS_ARGS).stdout;
    let jails = observe::jls::parse_jls_json(&json).unwrap();
    assert_eq!(jails.len(), 1);
    assert_eq!(jails[0].ip4, vec!["192.0.2.50", "127.0.1.5"]);
    assert_eq!(jails[0].ip6, vec!["2001:db8::50"]);
    assert_eq!(jails[0].hostname, "web.example");
    assert_eq!(jails[0].path, "/jails/web");

    let o = ok(&h, tools::JAIL, &["-f", "/etc/jail.conf", "-r", "web"]);
    assert_eq!(o.stdout, "web: removed\n");
    let after = h.snapshot().unwrap();
    assert!(after.mount.mounts.is_empty(), "{:?}", after.mount.mounts);
    assert_eq!(
        after.net.ifaces, before.net.ifaces,
        "aliases removed, interfaces unchanged"
    );
    assert!(after.jail.jails.is_empty());
    let hooks: Vec<(String, String)> = after
        .jail
        .hooks
        .iter()
        .map(|x| (x.hook.clone(), x.command.clone()))
        .collect();
    assert_eq!(
        hooks,
        [
            ("exec.prestart", "logger starting web"),
            ("exec.start", "/bin/sh /etc/rc"),
            ("exec.stop", "/bin/sh /etc/rc.shutdown jail"),
            ("exec.poststop", "logger stopped web"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    // Nested tools ran in jail(8)'s order.
    let progs: Vec<String> = after.history.iter().map(|e| e.cmd.to_string()).collect();
    let pos = |s: &str| {
        progs
            .iter()
            .position(|p| p == s)
            .unwrap_or_else(|| panic!("{s} not in {progs:#?}"))
    };
    assert!(
        pos("/sbin/ifconfig em0 inet 192.0.2.50/24 alias")
            < pos("/sbin/ifconfig em0 inet6 2001:db8::50/64 alias")
    );
    assert!(
        pos("/sbin/ifconfig em0 inet6 2001:db8::50/64 alias")
            < pos("/sbin/mount -t nullfs -o ro /jails/base /jails/web/base")
    );
    assert!(pos("/sbin/umount /jails/web/proc") < pos("/sbin/umount /jails/web/base"));
    assert!(
        pos("/sbin/ifconfig em0 inet6 2001:db8::50 -alias")
            < pos("/sbin/ifconfig em0 inet 192.0.2.50 -alias")
    );
}

#[test]
fn failure_mid_create_undoes_mounts_and_aliases() {
    let (_d, h) = host();
    web_conf_host(&h);
    let conf = WEB_CONF.replace("logger starting $name", "/usr/bin/false");
    h.write(Path::new("/etc/jail.conf"), conf.as_bytes(), 0o644)
        .unwrap();
    let before = h.snapshot().unwrap();
    let o = run(&h, tools::JAIL, &["-f", "/etc/jail.conf", "-c", "web"]);
    assert_eq!(o.status, 1);
    assert_eq!(o.stderr, "jail: web: /usr/bin/false: failed\n");
    assert!(o.stdout.is_empty());
    let after = h.snapshot().unwrap();
    assert!(after.mount.mounts.is_empty());
    assert_eq!(after.net.ifaces, before.net.ifaces);
    assert!(after.jail.jails.is_empty());
    assert_eq!(
        after.jail.hooks.len(),
        1,
        "start hooks did not run: {:?}",
        after.jail.hooks
    );
}

#[test]
fn failure_after_create_removes_the_jail() {
    let (_d, h) = host();
    mkdir(&h, "/jails/web");
    let o = run(
        &h,
        tools::JAIL,
        &[
            "-c",
            "name=web",
            "path=/jails/web",
            "persist",
            "ip4.addr=em0|192.0.2.60",
            "exec.poststart=exit 2",
        ],
    );
    assert_eq!(o.status, 1);
    assert_eq!(o.stderr, "jail: web: exit 2: failed\n");
    let s = h.snapshot().unwrap();
    assert!(s.jail.jails.is_empty());
    assert_eq!(s.net.host_iface("em0").unwrap().inet, vec!["192.0.2.10/24"]);
}

/// A removed VNET jail stays dying while the kernel tears down its network stack, and goes on
/// its own after a few commands, whatever they are (kern_jail.c frees a prison when its last
/// reference goes, not at the next jail(8) command): polling `jls -d` sees it go.
#[test]
fn vnet_jail_is_dying_for_a_few_commands_then_goes_on_its_own() {
    use jailctl_sim::jail::VNET_DYING_COMMANDS;
    let (_d, h) = host();
    vweb(&h);
    let l = ok(&h, tools::IFCONFIG, &["-l"]).stdout;
    assert_eq!(l, "lo0 em0 epair0a\n");
    assert_eq!(
        observe::ifconfig::parse_list(&l).unwrap(),
        ["lo0", "em0", "epair0a"]
    );
    ok(&h, tools::JAIL, &["-r", "vweb"]);
    // The next VNET_DYING_COMMANDS commands, whatever they are, still see it.
    assert_eq!(
        ok(&h, tools::IFCONFIG, &["-l"]).stdout,
        "lo0 em0 epair0a\n",
        "still held by the dying jail"
    );
    assert_eq!(
        ok(&h, tools::JLS, &[]).stdout.lines().count(),
        1,
        "only the header without -d"
    );
    let mut polls = 0;
    loop {
        let jails =
            observe::jls::parse_jls_json(&ok(&h, tools::JLS, observe::jls::JLS_ARGS).stdout)
                .unwrap();
        if jails.is_empty() {
            break;
        }
        assert!(jails[0].dying);
        polls += 1;
        assert!(polls < 10, "the dying VNET jail never went");
    }
    assert_eq!(polls, VNET_DYING_COMMANDS as usize - 2);
    assert_eq!(
        ok(&h, tools::IFCONFIG, &["-l"]).stdout,
        "lo0 em0 epair0a epair0b\n",
        "its interface is back on the host"
    );
    let o = run(&h, tools::JAIL, &["-r", "vweb"]);
    assert_eq!(o.stderr, "jail: \"vweb\" not found\n");
    ok(&h, tools::IFCONFIG, &["epair0a", "destroy"]);
    assert_eq!(ok(&h, tools::IFCONFIG, &["-l"]).stdout, "lo0 em0\n");
}

#[test]
fn epair_bridge_and_rename() {
    let (_d, h) = host();
    assert_eq!(
        ok(&h, tools::IFCONFIG, &["epair", "create"]).stdout,
        "epair0a\n"
    );
    assert_eq!(
        ok(&h, tools::IFCONFIG, &["epair", "create"]).stdout,
        "epair1a\n"
    );
    assert_eq!(
        ok(&h, tools::IFCONFIG, &["bridge", "create"]).stdout,
        "bridge0\n"
    );
    ok(&h, tools::IFCONFIG, &["epair0a", "up", "name", "e0a_web"]);
    ok(
        &h,
        tools::IFCONFIG,
        &["bridge0", "addm", "em0", "addm", "e0a_web", "up"],
    );
    let b = ok(&h, tools::IFCONFIG, &["bridge0"]).stdout;
    assert!(
        b.contains("member: em0") && b.contains("member: e0a_web"),
        "{b}"
    );
    ok(&h, tools::IFCONFIG, &["epair0b", "destroy"]);
    assert_eq!(
        ok(&h, tools::IFCONFIG, &["-l"]).stdout,
        "lo0 em0 epair1a epair1b bridge0\n"
    );
    assert!(
        !ok(&h, tools::IFCONFIG, &["bridge0"])
            .stdout
            .contains("member: e0a_web")
    );
}

#[test]
fn jls_formats() {
    let (_d, h) = host();
    web(&h);
    let o = ok(
        &h,
        tools::JLS,
        &[
            "-j", "web", "--libxo", "json", "name", "persist", "ip4.addr",
        ],
    )
    .stdout;
    assert_eq!(
        o,
        "{\"__version\": \"2\", \"jail-information\": {\"jail\": [{\"name\":\"web\",\"persist\":true,\"ip4.addr\":[]}]}}\n"
    );
    serde_json::from_str::<serde_json::Value>(&o).unwrap();
    let o = ok(
        &h,
        tools::JLS,
        &[
            "-n",
            "-j",
            "1",
            "jid",
            "name",
            "host.hostname",
            "persist",
            "allow.mount",
        ],
    )
    .stdout;
    assert_eq!(
        o,
        "jid=1 name=web host.hostname=web.example persist allow.nomount\n"
    );
    let o = ok(&h, tools::JLS, &[]).stdout;
    assert_eq!(
        o,
        "   JID  IP Address      Hostname                      Path\n     1                  web.example                   /jails/web\n"
    );
    let o = ok(&h, tools::JLS, &["-h", "jid", "name"]).stdout;
    assert_eq!(o, "jid name\n1 web\n");
    let o = ok(&h, tools::JLS, &["--libxo", "json"]).stdout;
    assert_eq!(
        o,
        "{\"__version\": \"2\", \"jail-information\": {\"jail\": [{\"jid\":1,\"ipv4\":\"\",\"hostname\":\"web.example\",\"path\":\"/jails/web\"}]}}\n"
    );
}

#[test]
fn jail_modify_restart_and_jid() {
    let (_d, h) = host();
    web(&h);
    assert_eq!(
        ok(
            &h,
            tools::JAIL,
            &["-m", "name=web", "host.hostname=new.example"]
        )
        .stdout,
        "web: updated\n"
    );
    assert_eq!(
        ok(&h, tools::JEXEC, &["web", "hostname"]).stdout,
        "new.example\n"
    );
    mkdir(&h, "/jails/db");
    assert_eq!(
        ok(
            &h,
            tools::JAIL,
            &["-i", "-c", "name=db", "path=/jails/db", "persist"]
        )
        .stdout,
        "2\n"
    );
    write(
        &h,
        "/etc/jail.conf",
        "db { path = /jails/db; persist; host.hostname = db.example; }\n",
    );
    let o = ok(&h, tools::JAIL, &["-rc", "db"]);
    assert_eq!(o.stdout, "db: removed\ndb: created\n");
    let jails =
        observe::jls::parse_jls_json(&ok(&h, tools::JLS, observe::jls::JLS_ARGS).stdout).unwrap();
    let db = jails.iter().find(|j| j.name == "db").unwrap();
    assert_eq!((db.jid, db.hostname.as_str()), (3, "db.example"));
    assert_eq!(ok(&h, tools::JAIL, &["-q", "-r", "*"]).stdout, "");
    assert!(h.snapshot().unwrap().jail.jails.is_empty());
}

#[test]
fn jexec_model() {
    let (_d, h) = host();
    web(&h);
    mkdir(&h, "/jails/web/etc/rc.d");
    h.write(Path::new("/jails/web/etc/motd"), b"hello\n", 0o644)
        .unwrap();
    h.write(Path::new("/jails/web/etc/rc.d/sshd"), b"#!/bin/sh\n", 0o755)
        .unwrap();
    assert_eq!(
        ok(&h, tools::JEXEC, &["web", "cat", "/etc/motd"]).stdout,
        "hello\n"
    );
    assert_eq!(
        ok(
            &h,
            tools::JEXEC,
            &["-l", "-U", "root", "web", "/bin/sh", "-c", "echo hi there"]
        )
        .stdout,
        "hi there\n"
    );
    assert_eq!(
        ok(&h, tools::JEXEC, &["web", "pkg", "install", "-y", "nginx"]).stdout,
        "Installing nginx...\n"
    );
    assert_eq!(h.snapshot().unwrap().jail.jails["web"].packages, ["nginx"]);
    // A persist-only jail ran no rc, so its services are stopped.
    let o = run(&h, tools::JEXEC, &["web", "service", "sshd", "status"]);
    assert_eq!((o.status, o.stdout.as_str()), (1, ""));
    assert_eq!(o.stderr, "sshd is not running.\n");
    assert_eq!(
        run(&h, tools::JEXEC, &["web", "/bin/sh", "-c", "false"]).status,
        1
    );
}

#[test]
fn rctl_rules_normalized_outlive_the_jail() {
    let (_d, h) = host();
    web(&h);
    ok(
        &h,
        tools::RCTL,
        &[
            "-a",
            "jail:web:memoryuse:deny=2g",
            "j:web:pcpu:deny=50",
            "jail:web:readbps:throttle=1m",
        ],
    );
    ok(&h, tools::RCTL, &["-a", "user:1001:maxproc:deny=100"]);
    let listed = ok(&h, tools::RCTL, &["jail:web"]).stdout;
    assert_eq!(
        listed,
        "jail:web:memoryuse:deny=2147483648\njail:web:pcpu:deny=50\njail:web:readbps:throttle=1048576\n"
    );
    assert_eq!(
        ok(&h, tools::RCTL, &["-h", "jail:web:memoryuse"]).stdout,
        "jail:web:memoryuse:deny=2G\n"
    );
    let by_jail = observe::rctl::parse_rules(&ok(&h, tools::RCTL, &[]).stdout).unwrap();
    assert_eq!(by_jail["web"].len(), 3);
    let usage =
        observe::rctl::parse_usage(&ok(&h, tools::RCTL, &["-u", "jail:web"]).stdout).unwrap();
    assert_eq!(usage.len(), 25);
    assert_eq!(usage["maxproc"], 0, "a persist-only jail has no processes");
    ok(&h, tools::JAIL, &["-r", "web"]);
    assert_eq!(ok(&h, tools::RCTL, &["jail:web"]).stdout.lines().count(), 3);
    ok(&h, tools::RCTL, &["-r", "jail:web"]);
    assert_eq!(
        ok(&h, tools::RCTL, &[]).stdout,
        "user:1001:maxproc:deny=100\n"
    );
}

/// A host with jail `web` started (its rc running, so it has processes to account for).
fn started_web() -> (tempfile::TempDir, SimHost) {
    let (d, h) = host();
    mkdir(&h, "/jails/web");
    ok(
        &h,
        tools::JAIL,
        &[
            "-c",
            "name=web",
            "path=/jails/web",
            "exec.start=/bin/sh /etc/rc",
        ],
    );
    (d, h)
}

#[test]
fn rctl_usage_of_a_started_jail_is_deterministic() {
    let (_d, h) = started_web();
    let a = ok(&h, tools::RCTL, &["-u", "jail:web"]).stdout;
    let b = ok(&h, tools::RCTL, &["-u", "j:web"]).stdout;
    assert_eq!(a, b);
    let u = observe::rctl::parse_usage(&a).unwrap();
    assert!(u["memoryuse"] > 1 << 20 && u["maxproc"] > 0, "{u:?}");
}

/// The kernel query (rctl_get_racct(2) on FreeBSD) answers what `rctl -u` prints, for many
/// jails at once, runs no command, leaves out jails not alive, and fails without RACCT.
#[test]
fn kernel_usage_matches_rctl_u_and_runs_no_command() {
    use jailctl::host::Host;
    let (_d, h) = started_web();
    let printed =
        observe::rctl::parse_usage(&ok(&h, tools::RCTL, &["-u", "jail:web"]).stdout).unwrap();
    let ran = h.snapshot().unwrap().history.len();
    let names = ["web".to_string(), "gone".to_string()];
    let got = h
        .racct_usage(&names)
        .expect("the simulator answers")
        .unwrap();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        ["web"],
        "a jail not alive is left out"
    );
    assert_eq!(got["web"], printed);
    assert_eq!(
        h.snapshot().unwrap().history.len(),
        ran,
        "no command was recorded"
    );
    // A boot-time tunable (sysctl refuses to set it), so set as after a reboot.
    h.with_state(|x| {
        x.state
            .sysctl
            .values
            .insert("kern.racct.enable".into(), "0".into())
    })
    .unwrap();
    let e = h.racct_usage(&names).unwrap().unwrap_err().to_string();
    assert!(e.contains("ENOSYS"), "{e}");
}

#[test]
fn cpuset_set_and_get() {
    let (_d, h) = host();
    web(&h);
    assert_eq!(
        ok(&h, tools::CPUSET, &["-g", "-j", "web"]).stdout,
        "jail 1 mask: 0, 1, 2, 3\njail 1 domain policy: first-touch mask: 0\n"
    );
    ok(&h, tools::CPUSET, &["-l", "1,3", "-j", "1"]);
    assert_eq!(
        ok(&h, tools::CPUSET, &["-g", "-j", "web"]).stdout,
        "jail 1 mask: 1, 3\njail 1 domain policy: first-touch mask: 0\n"
    );
}

#[test]
fn sysctl_defaults_and_knob() {
    let (_d, h) = host();
    assert_eq!(
        ok(&h, tools::SYSCTL, &["-n", "kern.racct.enable"]).stdout,
        "1\n"
    );
    assert_eq!(
        ok(&h, tools::SYSCTL, &["-n", "kern.features.vimage"]).stdout,
        "1\n"
    );
    assert_eq!(ok(&h, tools::SYSCTL, &["hw.ncpu"]).stdout, "hw.ncpu: 4\n");
    assert_eq!(
        ok(&h, tools::SYSCTL, &["-n", "security.jail.jailed"]).stdout,
        "0\n"
    );
    set_sysctl(&h, "kern.racct.enable", None);
    let o = run(&h, tools::SYSCTL, &["-n", "kern.racct.enable"]);
    assert_eq!(observe::sysctl::parse_racct(&o).unwrap(), None);
    set_sysctl(&h, "hw.ncpu", Some("2"));
    web(&h);
    assert_eq!(
        run(&h, tools::CPUSET, &["-l", "2", "-j", "web"]).stderr,
        "cpuset: setaffinity: Resource deadlock avoided\n"
    );
}

#[test]
fn mount_table_and_umount() {
    let (_d, h) = host();
    mkdir(&h, "/base");
    mkdir(&h, "/jails/web/dev/fd");
    ok(
        &h,
        tools::MOUNT,
        &["-t", "nullfs", "-o", "ro", "/base", "/jails/web"],
    );
    ok(
        &h,
        tools::MOUNT,
        &["-t", "devfs", "-oruleset=4", "devfs", "/jails/web/dev"],
    );
    ok(
        &h,
        tools::MOUNT,
        &["-t", "fdescfs", "fdesc", "/jails/web/dev/fd"],
    );
    let all = observe::mount::parse_mount_p(&ok(&h, tools::MOUNT, &["-p"]).stdout).unwrap();
    assert!(
        all.iter()
            .any(|m| m.fstype == "zfs" && m.source == "zroot" && m.target == "/zroot")
    );
    let m: Vec<_> = all.into_iter().filter(|m| m.fstype != "zfs").collect();
    assert_eq!(m.len(), 3);
    assert_eq!(
        (
            m[1].source.as_str(),
            m[1].fstype.as_str(),
            m[1].options.as_str()
        ),
        ("devfs", "devfs", "rw,ruleset=4")
    );
    ok(&h, tools::UMOUNT, &["/jails/web/dev/fd"]);
    ok(&h, tools::UMOUNT, &["/jails/web/dev"]);
    ok(&h, tools::UMOUNT, &["/jails/web"]);
    // Only the pool's root filesystem is left.
    assert_eq!(
        ok(&h, tools::MOUNT, &["-p"]).stdout,
        "zroot\t\t\t/zroot\t\t\tzfs\trw\t0 0\n"
    );
}

#[test]
fn create_or_modify_verbose_and_remove_without_config() {
    let (_d, h) = host();
    mkdir(&h, "/jails/web/dev");
    write(
        &h,
        "/etc/jail.conf",
        "web { path = /jails/web; persist; mount.devfs; interface = em0; ip4.addr = 192.0.2.70/255.255.255.0; }\n",
    );
    let o = ok(&h, tools::JAIL, &["-v", "-cm", "web"]);
    assert_eq!(
        o.stdout,
        "web: run command: /sbin/ifconfig em0 inet 192.0.2.70/24 alias\nweb: run command: /sbin/mount -t devfs -o ruleset=4 devfs /jails/web/dev\nweb: created\n"
    );
    // -cm on a running jail modifies it; nothing changed, so no notice.
    assert_eq!(ok(&h, tools::JAIL, &["-cm", "web"]).stdout, "");
    let s = ok(&h, tools::JLS, &["-s", "-j", "web"]).stdout;
    assert!(
        s.starts_with("name=web path=/jails/web host.hostname=web "),
        "{s}"
    );
    assert!(
        s.contains(" ip4.addr=192.0.2.70 ip6.addr=\"\" vnet=inherit persist "),
        "{s}"
    );
    // -R ignores the configuration: the jail goes, its mounts and alias stay (as on FreeBSD).
    assert_eq!(ok(&h, tools::JAIL, &["-R", "web"]).stdout, "web: removed\n");
    let st = h.snapshot().unwrap();
    assert!(st.jail.jails.is_empty());
    assert_eq!(st.mount.mounts.len(), 1);
    assert!(
        st.net
            .host_iface("em0")
            .unwrap()
            .inet
            .contains(&"192.0.2.70/24".to_string())
    );
    assert!(st.jail.hooks.is_empty());
}

#[test]
fn inet6_aliases_and_vnet_reclaim() {
    let (_d, h) = host();
    ok(
        &h,
        tools::IFCONFIG,
        &["em0", "inet6", "2001:db8::7", "prefixlen", "64", "alias"],
    );
    assert!(
        ok(&h, tools::IFCONFIG, &["em0"])
            .stdout
            .contains("inet6 2001:db8::7 prefixlen 64")
    );
    ok(
        &h,
        tools::IFCONFIG,
        &["em0", "inet6", "2001:db8::7", "-alias"],
    );
    assert!(
        !ok(&h, tools::IFCONFIG, &["em0"])
            .stdout
            .contains("2001:db8::7")
    );
    vweb(&h);
    ok(&h, tools::IFCONFIG, &["epair0b", "-vnet", "vweb"]);
    assert_eq!(
        ok(&h, tools::IFCONFIG, &["-l"]).stdout,
        "lo0 em0 epair0a epair0b\n"
    );
    let o = run(&h, tools::IFCONFIG, &["epair0b", "-vnet", "vweb"]);
    assert_eq!(
        (o.status, o.stderr.as_str()),
        (1, "ifconfig: SIOCSIFRVNET: Invalid argument\n")
    );
}

#[test]
fn jls_verbose_summary() {
    let (_d, h) = host();
    vweb(&h);
    ok(&h, tools::JAIL, &["-r", "vweb"]);
    let o = ok(&h, tools::JLS, &["-v", "-d"]).stdout;
    assert_eq!(
        o,
        "   JID  Hostname                      Path\n        Name                          State\n        CPUSetID\n        IP Address(es)\n     1  vweb                          /jails/vweb\n        vweb                          DYING\n        2\n"
    );
    let o = ok(&h, tools::JLS, &["-v", "-d", "--libxo", "json"]).stdout;
    let v: serde_json::Value = serde_json::from_str(&o).unwrap();
    let j = &v["jail-information"]["jail"][0];
    assert_eq!(
        (j["state"].as_str(), j["jid"].as_i64()),
        (Some("DYING"), Some(1))
    );
    assert_eq!(
        ok(&h, tools::JLS, &["-v"]).stdout.lines().count(),
        4,
        "header only without -d"
    );
}

#[test]
fn a_new_jail_takes_the_name_of_a_dying_one() {
    let d = tempfile::tempdir().unwrap();
    let cfg = jailctl_sim::SimConfig {
        dying_commands: 4,
        ..Default::default()
    };
    let h = SimHost::open_with(d.path(), cfg).unwrap();
    web(&h);
    ok(&h, tools::JAIL, &["-r", "web"]);
    let o = ok(
        &h,
        tools::JAIL,
        &["-c", "name=web", "path=/jails/web", "persist"],
    );
    assert_eq!(o.stdout, "web: created\n");
    let both =
        observe::jls::parse_jls_json(&ok(&h, tools::JLS, observe::jls::JLS_ARGS).stdout).unwrap();
    let mut both: Vec<(i32, bool)> = both
        .iter()
        .filter(|j| j.name == "web")
        .map(|j| (j.jid, j.dying))
        .collect();
    both.sort();
    assert_eq!(both, [(1, true), (2, false)]);
    // By name, the live jail, with or without -d.
    assert_eq!(ok(&h, tools::JLS, &["-j", "web", "jid"]).stdout, "2\n");
    assert_eq!(
        ok(&h, tools::JLS, &["-d", "-j", "web", "jid"]).stdout,
        "2\n"
    );
    let o = run(&h, tools::JAIL, &["-c", "name=web", "path=/jails/web"]);
    assert_eq!(o.stderr, "jail: \"web\" already exists\n");
    // Reaped by jid when its time is up; the new jail stays.
    ok(&h, tools::JLS, &["-d"]);
    let left =
        observe::jls::parse_jls_json(&ok(&h, tools::JLS, observe::jls::JLS_ARGS).stdout).unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!((left[0].jid, left[0].dying), (2, false));
}
