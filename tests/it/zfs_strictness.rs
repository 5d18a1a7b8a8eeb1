//! The strictness of the simulated zfs(8)/zpool(8) as one table: each row is one wrong or
//! impossible command, the exit status and first stderr line OpenZFS 2.2 gives for it, and
//! what zfs-fuse (the real ZFS CI runs, an older one) gives. The table runs against the
//! simulator always ([`table_on_the_simulator`]) and against zfs-fuse when a pool is given
//! ([`table_on_real_zfs`], `JAILCTL_TEST_ZFS_POOL`, see `real_zfs::real_pool`; `.ci/zfs-fuse.sh`
//! provides it in CI, where a missing pool is a failure).
//!
//! Every row runs on the same tree, made fresh on the simulator for each row and once on
//! zfs-fuse: `BASE/a`; `BASE/b` with snapshot `BASE/b@s` cloned to `BASE/c`; `BASE/p/q` with
//! `BASE/p/q@t`; `BASE/k/child` with `BASE/k@s1`. In a row's argv a leading `@` stands for
//! `BASE` and `%` alone for the pool; in messages `BASE` and `POOL` stand for them. `BASE` is
//! `zroot/jt` on the simulator and `POOL/jt-PID-N` on zfs-fuse.

use super::real_zfs::{Real as RealZfs, real_pool};
use jailctl::host::{Cmd, Output, Runner, tools};
use jailctl_sim::SimHost;

/// What the rest of the simulator's stderr holds, past the first line (checked on the
/// simulator only: zfs-fuse's usage texts are older).
#[derive(Clone, Copy)]
enum Rest {
    /// Nothing checked past the first line.
    Any,
    /// The whole stderr, placeholders substituted.
    Whole(&'static str),
    /// Text stderr contains.
    Contains(&'static str),
}

/// What zfs-fuse answers.
#[derive(Clone, Copy)]
enum OnReal {
    /// The same exit status and the same whole stderr as the simulator (checked against
    /// zfs-fuse 0.7 in CI).
    Same,
    /// A known deviation of zfs-fuse from OpenZFS 2.2 (docs/simulator.md, "Known
    /// deviations"): its exit status and first stderr line, pinned so a change on either
    /// side shows.
    Fuse(i32, &'static str),
    /// zfs-fuse must refuse the command too (non-zero status); its answer is not pinned yet.
    /// The real half prints it (`UNPINNED:`) when it differs from the simulator's, so the
    /// row can be pinned as `Same` or `Fuse`.
    Refuses,
    /// Not run on zfs-fuse, for the reason given.
    NotRun(&'static str),
}

struct Row {
    tool: &'static str,
    argv: &'static [&'static str],
    status: i32,
    first: &'static str,
    rest: Rest,
    real: OnReal,
}

use OnReal::{Fuse, NotRun, Refuses, Same};
use Rest::{Any, Contains, Whole};

const fn zfs(argv: &'static [&'static str], status: i32, first: &'static str) -> Row {
    Row {
        tool: tools::ZFS,
        argv,
        status,
        first,
        rest: Any,
        real: Refuses,
    }
}

const fn zpool(argv: &'static [&'static str], status: i32, first: &'static str) -> Row {
    Row {
        tool: tools::ZPOOL,
        argv,
        status,
        first,
        rest: Any,
        real: Refuses,
    }
}

impl Row {
    const fn rest(mut self, rest: Rest) -> Row {
        self.rest = rest;
        self
    }
    const fn real(mut self, real: OnReal) -> Row {
        self.real = real;
        self
    }
}

#[rustfmt::skip]
const ROWS: &[Row] = &[
    // ---- create
    zfs(&["create", "@/b"], 1, "cannot create 'BASE/b': dataset already exists").real(Same),
    zfs(&["create", "@/x/y"], 1, "cannot create 'BASE/x/y': parent does not exist").real(Same),
    zfs(&["create", "nopool/a"], 1, "cannot create 'nopool/a': no such pool 'nopool'"),
    zfs(&["create", "%"], 1, "cannot create 'POOL': missing dataset name"),
    // OpenZFS 2.2's zfs_validate_name wording (lib/libzfs/libzfs_dataset.c).
    zfs(&["create", "@/b@x"], 1, "cannot create 'BASE/b@x': snapshot delimiter '@' is not expected here")
        .real(Fuse(1, "cannot create 'BASE/b@x': snapshot delimiter '@' in filesystem name")),
    zfs(&["create", "@/bad!"], 1, "cannot create 'BASE/bad!': invalid character '!' in name").real(Same),
    zfs(&["create", "@//a"], 1, "cannot create 'BASE//a': empty component or misplaced '@' or '#' delimiter in name"),
    zfs(&["create", "-z", "@/q"], 2, "invalid option 'z'").rest(Contains("usage:\n\tcreate [-Pnpuv]")),
    zfs(&["create"], 2, "missing filesystem argument").rest(Contains("usage:")),
    zfs(&["create", "-o", "exec=maybe", "@/n"], 1, "cannot create 'BASE/n': 'exec' must be one of 'on | off'"),
    // ---- set
    zfs(&["set", "quota=abc", "@/a"], 1, "cannot set property for 'BASE/a': bad numeric value 'abc'").real(Same),
    zfs(&["set", "quota=12Q", "@/a"], 1, "cannot set property for 'BASE/a': invalid numeric suffix 'Q'").real(Same),
    zfs(&["set", "foo=bar", "@/a"], 1, "cannot set property for 'BASE/a': invalid property 'foo'").real(Same),
    zfs(&["set", "Foo:x=1", "@/a"], 1, "cannot set property for 'BASE/a': invalid property 'Foo:x'").real(Same),
    zfs(&["set", "origin=x", "@/a"], 1, "cannot set property for 'BASE/a': 'origin' is readonly").real(Same),
    zfs(&["set", "exec=maybe", "@/a"], 1, "cannot set property for 'BASE/a': 'exec' must be one of 'on | off'").real(Same),
    zfs(&["set", "readonly=on", "@/b@s"], 1, "cannot set property for 'BASE/b@s': this property can not be modified for snapshots").real(Same),
    zfs(&["set", "mountpoint=relative", "@/a"], 1, "cannot set property for 'BASE/a': 'mountpoint' must be an absolute path, 'none', or 'legacy'").real(Same),
    // zfs-fuse's list of values lacks lz4 and zstd (known deviation `compression-values`).
    zfs(&["set", "compression=bogus", "@/a"], 1, "cannot set property for 'BASE/a': 'compression' must be one of 'on | off | lzjb | gzip | gzip-[1-9] | zle | lz4 | zstd | zstd-[1-19] | zstd-fast | zstd-fast-[1-10,20,30,...,100,500,1000]'"),
    zfs(&["set", "recordsize=1000", "@/a"], 1, "cannot set property for 'BASE/a': 'recordsize' must be power of 2 from 512B to 1024KB"),
    zfs(&["set", "jailctl:x=", "@/a"], 2, "missing value in property=value argument"),
    zfs(&["set", "quota=1G", "@/nope"], 1, "cannot open 'BASE/nope': dataset does not exist"),
    // ---- get, list
    zfs(&["get", "bogus", "@"], 2, "bad property list: invalid property 'bogus'").rest(Contains("The following properties are supported:")),
    zfs(&["get", "-o", "name,bogus", "quota", "@"], 2, "invalid column name 'bogus'"),
    zfs(&["get", "-d", "x", "all", "@"], 2, "x is not an integer"),
    zfs(&["list", "@/nope"], 1, "cannot open 'BASE/nope': dataset does not exist").real(Same),
    zfs(&["list", "-o", "name,bogus", "@"], 2, "bad property list: invalid property 'bogus'"),
    zfs(&["list", "-s", "bogus", "@"], 2, "invalid property 'bogus'"),
    zfs(&["list", "-t", "bogus", "@"], 2, "invalid type 'bogus'"),
    // ---- snapshot
    // OpenZFS 2.2, cmd/zfs/zfs_main.c, zfs_do_snapshot: a filesystem that cannot be opened
    // sends it to the usage text, exit 2; zfs-fuse exits 1 without the usage.
    zfs(&["snapshot", "@/nope@x"], 2, "cannot open 'BASE/nope': dataset does not exist")
        .rest(Contains("\nusage:\n\tsnapshot [-r]"))
        .real(Fuse(1, "cannot open 'BASE/nope': dataset does not exist")),
    zfs(&["snapshot", "@/b@s"], 1, "cannot create snapshot 'BASE/b@s': dataset already exists").real(Same),
    // A recursive snapshot is atomic: one that exists below refuses all (the tree is
    // checked unchanged after every row).
    zfs(&["snapshot", "-r", "@/p@t"], 1, "cannot create snapshot 'BASE/p/q@t': dataset already exists"),
    // ---- clone
    zfs(&["clone", "@/b@nope", "@/e"], 1, "cannot open 'BASE/b@nope': dataset does not exist").real(Same),
    // OpenZFS 2.2 opens the source as a snapshot and its name check refuses a name without
    // '@' (libzfs_dataset.c, zfs_validate_name); zfs-fuse checks the type after opening.
    zfs(&["clone", "@/b", "@/d"], 1, "cannot open 'BASE/b': missing '@' delimiter in snapshot name")
        .real(Fuse(1, "cannot open 'BASE/b': operation not applicable to datasets of this type")),
    zfs(&["clone", "@/b@s", "@/x/y"], 1, "cannot create 'BASE/x/y': parent does not exist"),
    zfs(&["clone", "@/b@s"], 2, "missing target dataset argument"),
    // ---- destroy
    zfs(&["destroy", "@/b@s"], 1, "cannot destroy 'BASE/b@s': snapshot has dependent clones")
        .rest(Whole("cannot destroy 'BASE/b@s': snapshot has dependent clones\nuse '-R' to destroy the following datasets:\nBASE/c\n"))
        .real(Same),
    zfs(&["destroy", "@/b"], 1, "cannot destroy 'BASE/b': filesystem has children").real(Same),
    // zfs_iter_dependents' order: child filesystems before the target's own snapshots.
    zfs(&["destroy", "@/k"], 1, "cannot destroy 'BASE/k': filesystem has children")
        .rest(Whole("cannot destroy 'BASE/k': filesystem has children\nuse '-r' to destroy the following datasets:\nBASE/k/child\nBASE/k@s1\n")),
    // zfs-fuse says "snapshot is cloned" (known deviation `destroy-r-cloned-snapshot`).
    zfs(&["destroy", "-r", "@/b"], 1, "cannot destroy 'BASE/b': filesystem has dependent clones")
        .rest(Contains("use '-R' to destroy the following datasets:\nBASE/c\n")),
    zfs(&["destroy", "@/nope"], 1, "cannot open 'BASE/nope': dataset does not exist").real(Same),
    // zfs_do_destroy (2.2) looks the snapshot up by name under its filesystem; zfs-fuse opens
    // the snapshot itself (known deviation `destroy-missing-snapshot`).
    zfs(&["destroy", "@/a@nope"], 1, "could not find any snapshots to destroy; check snapshot names."),
    zfs(&["destroy", "-x", "@/a"], 2, "invalid option 'x'").rest(Contains("destroy [-fnpRrv] <filesystem|volume>")),
    zfs(&["destroy", "%"], 1, "cannot destroy 'POOL': operation does not apply to pools")
        .real(NotRun("aims at the root of the pool CI shares")),
    // ---- inherit, promote, rename
    zfs(&["inherit", "quota", "@/b"], 1, "'quota' property cannot be inherited")
        .rest(Contains("use 'zfs set quota=none' to clear"))
        .real(Same),
    zfs(&["inherit", "type", "@/a"], 1, "type property is read-only"),
    zfs(&["promote", "@/b"], 1, "cannot promote 'BASE/b': not a cloned filesystem").real(Same),
    zfs(&["rename", "@/b", "@/c"], 1, "cannot rename 'BASE/b': dataset already exists").real(Same),
    zfs(&["rename", "@/b", "@/zz/b"], 1, "cannot create 'BASE/zz/b': parent does not exist").real(Same),
    zfs(&["rename", "@/b@s", "@/c@s3"], 1, "cannot rename to 'BASE/c@s3': snapshots must be part of same dataset"),
    zfs(&["rename", "@/b", "@/b/inner"], 1, "cannot rename to 'BASE/b/inner': New dataset name cannot be a descendant of current dataset name"),
    // ---- the command line
    zfs(&["frobnicate"], 2, "unrecognized command 'frobnicate'"),
    zfs(&[], 2, "usage: zfs command args ..."),
    zfs(&["bookmark", "@@x", "@#x"], 1, "zfs bookmark: not modelled by the simulated host (use real-ZFS mode, see docs/simulator.md)")
        .real(NotRun("a subcommand the simulator does not model: its refusal is its own")),
    // ---- zpool
    zpool(&["list", "-H", "-o", "name,health", "nope"], 1, "cannot open 'nope': no such pool"),
    zpool(&["get", "bogus", "%"], 2, "bad property list: invalid property 'bogus'"),
    zpool(&["frob"], 2, "unrecognized command 'frob'"),
];

/// `@...` → `BASE...`, `%` → the pool.
fn argv(row: &Row, base: &str, pool: &str) -> Vec<String> {
    row.argv
        .iter()
        .map(|a| {
            if *a == "%" {
                pool.to_string()
            } else if let Some(rest) = a.strip_prefix('@') {
                format!("{base}{rest}")
            } else {
                a.to_string()
            }
        })
        .collect()
}

/// A message with its placeholders filled in.
fn fill(msg: &str, base: &str, pool: &str) -> String {
    msg.replace("BASE", base).replace("POOL", pool)
}

/// The tree every row runs on (module documentation), made with `run`.
fn make_tree(base: &str, mut run: impl FnMut(&[&str])) {
    let d = |rest: &str| format!("{base}{rest}");
    for argv in [
        vec!["create".to_string(), d("/a")],
        vec!["create".into(), d("/b")],
        vec!["snapshot".into(), d("/b@s")],
        vec!["clone".into(), d("/b@s"), d("/c")],
        vec!["create".into(), "-p".into(), d("/p/q")],
        vec!["snapshot".into(), d("/p/q@t")],
        vec!["create".into(), "-p".into(), d("/k/child")],
        vec!["snapshot".into(), d("/k@s1")],
    ] {
        run(&argv.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

const SIM_BASE: &str = "zroot/jt";
const SIM_POOL: &str = "zroot";

fn sim_host() -> (tempfile::TempDir, SimHost) {
    let d = tempfile::tempdir().unwrap();
    let h = SimHost::open(&d.path().join("sim")).unwrap();
    let z = |argv: &[&str]| {
        let o = h
            .output(&Cmd::new(tools::ZFS, argv.iter().copied()))
            .unwrap();
        assert_eq!(o.status, 0, "zfs {argv:?}: {}", o.stderr);
    };
    z(&["create", SIM_BASE]);
    make_tree(SIM_BASE, z);
    (d, h)
}

fn first_line(o: &Output) -> &str {
    o.stderr.lines().next().unwrap_or("")
}

/// Every row on a fresh simulated host: the status and first line of the row, stdout empty,
/// the rest of stderr as the row says, and the datasets unchanged (a refused command does
/// nothing, not even part of its work).
#[test]
fn table_on_the_simulator() {
    let mut bad = Vec::new();
    for row in ROWS {
        let (_d, h) = sim_host();
        let before = h.snapshot().unwrap().zfs;
        let args = argv(row, SIM_BASE, SIM_POOL);
        let o = h.output(&Cmd::new(row.tool, args.iter())).unwrap();
        let want = fill(row.first, SIM_BASE, SIM_POOL);
        let mut why = Vec::new();
        if (o.status, first_line(&o)) != (row.status, want.as_str()) {
            why.push(format!("want {} {want:?}", row.status));
        }
        if !o.stdout.is_empty() {
            why.push(format!("stdout not empty: {:?}", o.stdout));
        }
        match row.rest {
            Any => {}
            Whole(w) if o.stderr != fill(w, SIM_BASE, SIM_POOL) => {
                why.push(format!(
                    "want the whole stderr {:?}",
                    fill(w, SIM_BASE, SIM_POOL)
                ));
            }
            Contains(c) if !o.stderr.contains(&fill(c, SIM_BASE, SIM_POOL)) => {
                why.push(format!("stderr lacks {c:?}"));
            }
            _ => {}
        }
        if h.snapshot().unwrap().zfs != before {
            why.push("the datasets changed".into());
        }
        if !why.is_empty() {
            bad.push(format!(
                "{} {args:?}: got {} {:?}\n    {}",
                row.tool,
                o.status,
                o.stderr,
                why.join("\n    ")
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} row(s) differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// The table is what it says: every subcommand with a strictness row is there, both tools,
/// and every kind of zfs-fuse expectation.
#[test]
fn table_covers_every_subcommand_and_expectation() {
    for sub in [
        "create", "set", "get", "list", "snapshot", "clone", "destroy", "inherit", "promote",
        "rename",
    ] {
        assert!(
            ROWS.iter()
                .any(|r| r.tool == tools::ZFS && r.argv.first() == Some(&sub)),
            "no row for zfs {sub}"
        );
    }
    assert!(ROWS.iter().any(|r| r.tool == tools::ZPOOL));
    let count = |f: fn(&OnReal) -> bool| ROWS.iter().filter(|r| f(&r.real)).count();
    assert!(count(|r| matches!(r, Same)) >= 20);
    assert!(count(|r| matches!(r, Fuse(..))) >= 3);
    assert!(count(|r| matches!(r, NotRun(_))) <= 2);
}

/// Every row but the `NotRun` ones on zfs-fuse, all on one tree (a refused command changes
/// nothing; the simulator's half checks that): `Same` rows must give the simulator's status
/// and whole stderr, `Fuse` rows their pinned status and first line, `Refuses` rows any
/// failure.
#[test]
fn table_on_real_zfs() {
    let Some(pool) = real_pool("zfs_strictness::table_on_real_zfs") else {
        return;
    };
    let r = RealZfs::new(&pool);
    make_tree(&r.base, |argv| {
        r.ok(argv);
    });
    let mut bad = Vec::new();
    let mut unpinned = Vec::new();
    use std::io::Write;
    for row in ROWS {
        if let NotRun(why) = row.real {
            // Past the harness's capture, like a skip: a row left out must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "NOT RUN on zfs-fuse: {} {:?}: {why}",
                row.tool,
                row.argv
            );
            continue;
        }
        let args = argv(row, &r.base, &pool);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let ro = r
            .host
            .output(&Cmd::new(row.tool, args.iter().copied()))
            .unwrap();
        let norm = |s: &str| s.replace(&r.base, "BASE").replace(&pool, "POOL");
        let (sd, sh) = sim_host();
        let so = sh
            .output(&Cmd::new(row.tool, argv(row, SIM_BASE, SIM_POOL)))
            .unwrap();
        drop(sd);
        let sim_norm = |s: &str| s.replace(SIM_BASE, "BASE").replace(SIM_POOL, "POOL");
        let ok = match row.real {
            Same => ro.status == so.status && norm(&ro.stderr) == sim_norm(&so.stderr),
            Fuse(status, first) => (ro.status, norm(first_line(&ro)).as_str()) == (status, first),
            Refuses => {
                if (ro.status, norm(&ro.stderr)) != (so.status, sim_norm(&so.stderr)) {
                    unpinned.push(format!(
                        "UNPINNED: {} {:?}: zfs-fuse {} {:?} / simulator {} {:?}",
                        row.tool,
                        row.argv,
                        ro.status,
                        norm(&ro.stderr),
                        so.status,
                        sim_norm(&so.stderr)
                    ));
                }
                ro.status != 0
            }
            NotRun(_) => true,
        };
        if !ok {
            bad.push(format!(
                "{} {:?}: zfs-fuse {} {:?} / simulator {} {:?}",
                row.tool,
                row.argv,
                ro.status,
                norm(&ro.stderr),
                so.status,
                sim_norm(&so.stderr)
            ));
        }
    }
    // Past the harness's capture: the differences to pin are read from the CI log.
    for u in &unpinned {
        let _ = writeln!(std::io::stderr(), "{u}");
    }
    assert!(
        bad.is_empty(),
        "{} row(s) differ on zfs-fuse:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
