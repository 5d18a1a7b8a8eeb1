//! The shared value rules through the real binary: every value FreeBSD cannot carry, that
//! escapes where it belongs, or that would be read as an option is refused by
//! `jailctl validate` with its file, line, column and message, and `jailctl render` refuses
//! the same; every value accepted renders to a jail.conf that the simulator's jail.conf
//! parser (a model of jail(8)'s) reads back to exactly the TOML value; and the spec hash does
//! not depend on how the configuration directory is spelled.

use crate::boot_driver::Fleet;
use assert_cmd::Command;
use jailctl_sim::jailconf;
use std::path::Path;

const GLOBAL: &str = "zfs_root = \"zroot/jailctl\"\nmount_root = \"/usr/local/jails\"\ndefault_base = \"14.3-RELEASE\"\n";

/// One refused configuration: the files written (relative to the configuration directory,
/// `jailctl.toml` defaulting to [`GLOBAL`]) and the one error `validate` must report.
struct Case {
    what: String,
    files: Vec<(String, String)>,
    /// Relative to the configuration directory.
    file: String,
    line: u64,
    column: u64,
    message: String,
}

fn case(what: &str, file: &str, text: &str, line: u64, column: u64, message: &str) -> Case {
    Case {
        what: what.into(),
        files: vec![(file.into(), text.into())],
        file: file.into(),
        line,
        column,
        message: message.into(),
    }
}

/// Each character jail(8) splits a mount line on (command.c: strtok on " \t\f\v\r\n"), the
/// backslash, with the TOML spelling and the name the message uses.
const SPLITTERS: &[(&str, char, &str)] = &[
    (" ", ' ', "a space"),
    ("\\t", '\t', "a tab (\\t)"),
    ("\\n", '\n', "a newline (\\n)"),
    ("\\u000B", '\u{0b}', "a vertical tab (\\u000B)"),
    ("\\u000C", '\u{0c}', "a form feed (\\u000C)"),
    ("\\r", '\r', "a carriage return (\\r)"),
    ("\\\\", '\\', "a backslash"),
];

fn cases() -> Vec<Case> {
    let mut out = vec![];
    let split_why = "jail(8) splits mount lines on whitespace and has no way to escape it";
    let bs_why = "jail(8) of FreeBSD 13.x/14.x passes it to mount(8) as is, while newer releases decode it as an escape";
    for (toml, c, name) in SPLITTERS {
        let why = if *c == '\\' { bs_why } else { split_why };
        let shown = format!("/srv/a{}b", c.escape_debug());
        out.push(case(
            &format!("mount source with {name}"),
            "jails/web.toml",
            &format!("[[mounts]]\nsource = \"/srv/a{toml}b\"\ntarget = \"/mnt/x\"\n"),
            2,
            10,
            &format!("mount source \"{shown}\" contains {name}: {why}"),
        ));
        let shown = format!("/mnt/a{}b", c.escape_debug());
        out.push(case(
            &format!("mount target with {name}"),
            "jails/web.toml",
            &format!("[[mounts]]\nsource = \"/srv/x\"\ntarget = \"/mnt/a{toml}b\"\n"),
            3,
            10,
            &format!("mount target \"{shown}\" contains {name}: {why}"),
        ));
        out.push(case(
            &format!("volume target with {name}"),
            "jails/web.toml",
            &format!("[[volumes]]\nname = \"data\"\ntarget = \"/var/a{toml}b\"\n"),
            3,
            10,
            &format!(
                "volume target \"/var/a{}b\" contains {name}: {why}",
                c.escape_debug()
            ),
        ));
        let mut global = case(
            &format!("mount_root with {name}"),
            "jailctl.toml",
            &format!(
                "zfs_root = \"zroot/jailctl\"\nmount_root = \"/usr/local/my{toml}jails\"\ndefault_base = \"14.3-RELEASE\"\n"
            ),
            2,
            14,
            &format!(
                "mount_root \"/usr/local/my{}jails\" contains {name}: {why}",
                c.escape_debug()
            ),
        );
        global.files.push(("jails/web.toml".into(), String::new()));
        out.push(global);
    }
    let nul = "contains a NUL byte (\\u0000) at character 4: FreeBSD's tools end the string there and would drop the rest";
    for (what, text, line, column, key) in [
        (
            "hook",
            "[hooks]\nstart = \"nul\\u0000after\"\n",
            2,
            9,
            "hooks.start",
        ),
        (
            "hook list entry",
            "[hooks]\npoststart = [\"ok\", \"nul\\u0000after\"]\n",
            2,
            20,
            "hooks.poststart[1]",
        ),
        (
            "checked parameter",
            "[params]\n\"host.domainname\" = \"nul\\u0000x\"\n",
            2,
            21,
            "params.host.domainname",
        ),
        (
            "unchecked parameter",
            "[params_unchecked]\nfoo.bar = \"nul\\u0000x\"\n",
            2,
            11,
            "params_unchecked.foo.bar",
        ),
        (
            "mount source",
            "[[mounts]]\nsource = \"/sr\\u0000v\"\ntarget = \"/mnt/x\"\n",
            2,
            10,
            "mounts[0].source",
        ),
        (
            "provision command",
            "[provision]\ncommands = [\"nul\\u0000after\"]\n",
            2,
            13,
            "provision.commands[0]",
        ),
    ] {
        out.push(case(
            &format!("NUL in a {what}"),
            "jails/web.toml",
            text,
            line,
            column,
            &format!("the value of {key} {nul}"),
        ));
    }
    out.push(case(
        "all-digit dependency",
        "jails/web.toml",
        "depends_on = [\"1\"]\n",
        1,
        15,
        "\"1\" is not a valid jail name: jail(8) takes an all-digit name as a jail id (jid)",
    ));
    out.push(case(
        "extends climbing out of the template directories",
        "jails/web.toml",
        "extends = \"../../evil\"\n",
        1,
        11,
        "extends = \"../../evil\" is not a template name: a template is <config_dir>/templates/NAME.toml or a shipped one, named with letters, digits, '_', '-' and '.', starting with a letter or digit",
    ));
    out.push(case(
        "extends with an absolute path",
        "jails/web.toml",
        "extends = \"/tmp/evil\"\n",
        1,
        11,
        "extends = \"/tmp/evil\" is not a template name: a template is <config_dir>/templates/NAME.toml or a shipped one, named with letters, digits, '_', '-' and '.', starting with a letter or digit",
    ));
    for (target, col) in [("/", 10), ("/.", 10), ("//", 10)] {
        let shown = if target == "//" { "//" } else { target };
        out.push(case(
            &format!("mount target {target}"),
            "jails/web.toml",
            &format!("[[mounts]]\nsource = \"/srv/x\"\ntarget = \"{target}\"\n"),
            3,
            col,
            &format!("mount target \"{shown}\" is the jail root itself: it would cover the jail's whole file system"),
        ));
    }
    out.push(case(
        "volume target /",
        "jails/web.toml",
        "[[volumes]]\nname = \"data\"\ntarget = \"/\"\n",
        3,
        10,
        "volume target \"/\" is the jail root itself: it would cover the jail's whole file system",
    ));
    out.push(case(
        "package beginning with -",
        "jails/web.toml",
        "[provision]\npackages = [\"nginx\", \"-f\"]\n",
        2,
        22,
        "package name \"-f\" begins with '-', so the command it is passed to would read it as an option",
    ));
    out.push(case(
        "health command beginning with -",
        "jails/web.toml",
        "[health]\ncommand = [\"-x\", \"y\"]\n",
        2,
        11,
        "health command \"-x\" begins with '-', so the command it is passed to would read it as an option",
    ));
    out.push(case(
        "file owner beginning with -",
        "jails/web.toml",
        "[[provision.files]]\nsource = \"/etc/hosts\"\ntarget = \"/etc/hosts\"\nowner = \"-R\"\n",
        4,
        9,
        "owner \"-R\" begins with '-', so the command it is passed to would read it as an option",
    ));
    let form = "is not of the form pool/dataset[/...]: a pool name starting with a letter, then dataset names of letters, digits, '_', '-', '.' and ':' (no empty, \".\" or \"..\" components)";
    for zr in [
        "zroot/../x",
        "zroot",
        "zroot/./x",
        "-o/x",
        "zroot//x",
        "1pool/x",
    ] {
        let mut c = case(
            &format!("zfs_root {zr}"),
            "jailctl.toml",
            &format!("zfs_root = \"{zr}\"\ndefault_base = \"14.3-RELEASE\"\n"),
            1,
            12,
            &format!("zfs_root \"{zr}\" {form}"),
        );
        c.files.push(("jails/web.toml".into(), String::new()));
        out.push(c);
    }
    for (mr, msg) in [
        (
            "/",
            "mount_root \"/\" would make every jail root a directory of the host's root (/NAME) and mount jail file systems there".to_string(),
        ),
        (
            "/usr/local/jails/../../etc",
            "mount_root \"/usr/local/jails/../../etc\" has a \".\" or \"..\" component, so jail roots would not be where it says".to_string(),
        ),
        (
            "/usr/./jails",
            "mount_root \"/usr/./jails\" has a \".\" or \"..\" component, so jail roots would not be where it says".to_string(),
        ),
    ] {
        let mut c = case(
            &format!("mount_root {mr}"),
            "jailctl.toml",
            &format!("zfs_root = \"zroot/jailctl\"\nmount_root = \"{mr}\"\ndefault_base = \"14.3-RELEASE\"\n"),
            2,
            14,
            &msg,
        );
        c.files.push(("jails/web.toml".into(), String::new()));
        out.push(c);
    }
    out
}

/// `jailctl --config-dir DIR validate --json`: exit status and the parsed report.
fn validate(dir: &Path) -> (Option<i32>, serde_json::Value) {
    let o = Command::cargo_bin("jailctl")
        .unwrap()
        .arg("--config-dir")
        .arg(dir)
        .args(["validate", "--json"])
        .output()
        .unwrap();
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)));
    (o.status.code(), v)
}

fn render(dir: &Path, name: &str) -> std::process::Output {
    Command::cargo_bin("jailctl")
        .unwrap()
        .arg("--config-dir")
        .arg(dir)
        .args(["render", name])
        .output()
        .unwrap()
}

fn write_files(dir: &Path, files: &[(String, String)]) {
    std::fs::create_dir_all(dir.join("jails")).unwrap();
    if !files.iter().any(|(p, _)| p == "jailctl.toml") {
        std::fs::write(dir.join("jailctl.toml"), GLOBAL).unwrap();
    }
    for (p, text) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

#[test]
fn every_refused_value_is_reported_with_file_line_column_and_message_and_render_agrees() {
    let all = cases();
    assert!(all.len() > 50, "{} cases", all.len());
    let mut failures = vec![];
    for c in &all {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cfg");
        write_files(&dir, &c.files);
        // A file extends = "../../evil" would reach, were it followed.
        std::fs::write(
            tmp.path().join("evil.toml"),
            "[hooks]\nstart = \"/bin/evil\"\n",
        )
        .unwrap();
        let (code, v) = validate(&dir);
        let errors = v["errors"].as_array().cloned().unwrap_or_default();
        let want = (
            dir.join(&c.file).display().to_string(),
            c.line,
            c.column,
            c.message.clone(),
        );
        let got: Vec<(String, u64, u64, String)> = errors
            .iter()
            .map(|e| {
                (
                    e["file"].as_str().unwrap_or("").to_string(),
                    e["line"].as_u64().unwrap_or(0),
                    e["column"].as_u64().unwrap_or(0),
                    e["message"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        if code != Some(1) || got != vec![want.clone()] {
            failures.push(format!(
                "{}: exit {code:?}\n  want {want:?}\n  got  {got:?}",
                c.what
            ));
            continue;
        }
        if errors[0]["help"].as_str().is_none_or(str::is_empty) {
            failures.push(format!("{}: no help (the fix) in {:?}", c.what, errors[0]));
        }
        // render (what up and boot run too) refuses the same, with the same message.
        let o = render(&dir, "web");
        let err = String::from_utf8_lossy(&o.stderr);
        // The report wraps long messages, continuing them after "| ".
        let flat: String = err
            .replace("\n  | ", " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let msg_flat: String = c.message.split_whitespace().collect::<Vec<_>>().join(" ");
        if o.status.success() || !flat.contains(&msg_flat) {
            failures.push(format!(
                "{}: render did not refuse with the message:\n{err}",
                c.what
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[cfg(unix)]
#[test]
fn definitions_must_be_bounded_regular_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cfg");
    write_files(&dir, &[]);
    let jails = dir.join("jails");
    std::os::unix::fs::symlink("/dev/zero", jails.join("zero.toml")).unwrap();
    nix::unistd::mkfifo(
        &jails.join("fifo.toml"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    std::fs::create_dir(jails.join("dir.toml")).unwrap();
    let mut big = String::from("hostname = \"big\"\n");
    big.push_str(&"#".repeat((1 << 20) - big.len()));
    big.push('\n');
    std::fs::write(jails.join("big.toml"), &big).unwrap();
    // Exactly 1 MiB is accepted; a symlink to a regular file is fine.
    let mut max = String::from("hostname = \"max\"\n");
    max.push_str(&"#".repeat((1 << 20) - max.len() - 1));
    max.push('\n');
    assert_eq!(max.len(), 1 << 20);
    std::fs::write(tmp.path().join("max.toml"), &max).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("max.toml"), jails.join("max.toml")).unwrap();
    // A template that is a FIFO is an error, not a fall-back to the shipped one.
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    nix::unistd::mkfifo(
        &dir.join("templates/nginx.toml"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    std::fs::write(jails.join("web.toml"), "extends = \"nginx\"\n").unwrap();

    let start = std::time::Instant::now();
    let (code, v) = validate(&dir);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "validate took {:?}",
        start.elapsed()
    );
    assert_eq!(code, Some(1), "{v}");
    let mut got: Vec<(String, u64, u64, String)> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let f = e["file"].as_str().unwrap();
            (
                Path::new(f)
                    .strip_prefix(&dir)
                    .unwrap_or(Path::new(f))
                    .display()
                    .to_string(),
                e["line"].as_u64().unwrap(),
                e["column"].as_u64().unwrap(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let not_regular = |what: &str| {
        format!(
            "cannot read: it is {what}; configuration files must be regular files (a symlink to one is fine)"
        )
    };
    let mut want = vec![
        (
            "jails/big.toml".to_string(),
            0,
            0,
            "cannot read: larger than 1048576 bytes (1 MiB), the most jailctl reads from a configuration file".to_string(),
        ),
        ("jails/dir.toml".to_string(), 0, 0, not_regular("a directory")),
        ("jails/fifo.toml".to_string(), 0, 0, not_regular("a FIFO")),
        (
            "jails/zero.toml".to_string(),
            0,
            0,
            not_regular("a character device"),
        ),
        ("templates/nginx.toml".to_string(), 0, 0, not_regular("a FIFO")),
    ];
    want.sort();
    assert_eq!(got, want, "{v}");
    let valid: Vec<&str> = v["jails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["valid"] == true)
        .map(|j| j["name"].as_str().unwrap())
        .collect();
    assert_eq!(valid, ["max"]);
}

/// A file named like an all-digit jail is refused by validate as render refuses the name.
#[test]
fn all_digit_jail_names_are_refused_by_validate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cfg");
    write_files(&dir, &[("jails/1.toml".into(), String::new())]);
    let (code, v) = validate(&dir);
    assert_eq!(code, Some(1));
    let e = &v["errors"][0];
    assert_eq!(e["file"], dir.join("jails/1.toml").display().to_string());
    assert_eq!(
        (e["line"].as_u64(), e["column"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        e["message"],
        "\"1\" is not a valid jail name: jail(8) takes an all-digit name as a jail id (jid)"
    );
    assert_eq!(v["errors"].as_array().unwrap().len(), 1, "{v}");
}

/// TOML spellings of accepted mount path characters (Unicode spaces, other control
/// characters, quotes, `$`, non-ASCII) and of hostile hook and parameter values.
const ACCEPTED_PATH_BITS: &[(&str, &str)] = &[
    ("\\u00A0", "\u{a0}"),
    ("\\u2003", "\u{2003}"),
    ("\\u3000", "\u{3000}"),
    ("\\u2028", "\u{2028}"),
    ("\\u0001", "\u{1}"),
    ("\\u001B", "\u{1b}"),
    ("\\u007F", "\u{7f}"),
    ("\\\"", "\""),
    ("$x", "$x"),
    ("${x}", "${x}"),
    ("#;{}", "#;{}"),
    ("caf\u{e9}", "caf\u{e9}"),
];

const ACCEPTED_VALUES: &[(&str, &str)] = &[
    (
        "a b\\tc\\nd\\re\\u000Bf\\u000Cg",
        "a b\tc\nd\re\u{b}f\u{c}g",
    ),
    ("back\\\\slash \\\\040 \\\\n", "back\\slash \\040 \\n"),
    ("\\\"q\\\" $HOME ${x} `id`", "\"q\" $HOME ${x} `id`"),
    ("; } { # // /* */", "; } { # // /* */"),
    (
        "\\u0001\\u001F\\u007F\\u00A0\\u2028 \u{1f600}",
        "\u{1}\u{1f}\u{7f}\u{a0}\u{2028} \u{1f600}",
    ),
];

/// jail(8)'s split of one `mount` value into fields (command.c: strtok on " \t\f\v\r\n").
fn jail8_fields(line: &str) -> Vec<&str> {
    line.split([' ', '\t', '\u{c}', '\u{b}', '\r', '\n'])
        .filter(|f| !f.is_empty())
        .collect()
}

#[test]
fn accepted_values_render_to_what_jail_conf_reads_back_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cfg");
    let mut toml = String::new();
    for (i, (t, _)) in ACCEPTED_PATH_BITS.iter().enumerate() {
        toml.push_str(&format!(
            "[[mounts]]\nsource = \"/srv/{i}{t}x\"\ntarget = \"/mnt/{i}{t}y\"\n"
        ));
    }
    let hooks: Vec<String> = ACCEPTED_VALUES
        .iter()
        .map(|(t, _)| format!("\"{t}\""))
        .collect();
    toml.push_str(&format!("[hooks]\npoststart = [{}]\n", hooks.join(", ")));
    toml.push_str("[params_unchecked]\n");
    for (i, (t, _)) in ACCEPTED_VALUES.iter().enumerate() {
        toml.push_str(&format!("\"x.p{i}\" = \"{t}\"\n"));
    }
    write_files(&dir, &[("jails/web.toml".into(), toml)]);
    let (code, v) = validate(&dir);
    assert_eq!(code, Some(0), "{v}");
    let o = render(&dir, "web");
    assert!(o.status.success(), "{o:?}");
    let conf = String::from_utf8(o.stdout).unwrap();
    let parsed = jailconf::parse_str(&conf, "/var/run/jailctl/web.conf")
        .unwrap_or_else(|e| panic!("{e}\n{conf}"));
    let web = parsed.resolve("web").unwrap();

    let mounts = web.list("mount");
    assert_eq!(mounts.len(), ACCEPTED_PATH_BITS.len(), "{mounts:?}");
    for (i, (_, raw)) in ACCEPTED_PATH_BITS.iter().enumerate() {
        let fields = jail8_fields(&mounts[i]);
        assert_eq!(
            fields,
            [
                format!("/srv/{i}{raw}x").as_str(),
                format!("/usr/local/jails/web/mnt/{i}{raw}y").as_str(),
                "nullfs",
                "rw",
                "0",
                "0"
            ],
            "mount {i}: {:?}",
            mounts[i]
        );
    }
    let want_hooks: Vec<String> = ACCEPTED_VALUES.iter().map(|(_, r)| r.to_string()).collect();
    assert_eq!(web.list("exec.poststart"), want_hooks);
    for (i, (_, raw)) in ACCEPTED_VALUES.iter().enumerate() {
        assert_eq!(
            web.string(&format!("x.p{i}")).as_deref(),
            Some(*raw),
            "params_unchecked x.p{i}"
        );
    }
}

/// `--config-dir cfg` and `--config-dir /abs/cfg` are one configuration: after `up` through
/// one spelling, `plan` through the other has nothing to do and `list` says current.
#[test]
fn spec_hash_is_the_same_for_two_spellings_of_one_config_dir() {
    let f = Fleet::new();
    f.jail("web", true, &[], "");
    let jailctl = |cwd: &Path, cfg: &Path, args: &[&str]| {
        let o = Command::cargo_bin("jailctl")
            .unwrap()
            .current_dir(cwd)
            .arg("--simulate")
            .arg(f.sim())
            .arg("--config-dir")
            .arg(cfg)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {o:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    jailctl(f.dir.path(), &f.cfg(), &["up", "web"]);
    assert_eq!(f.running(), ["web"]);
    for (cwd, spelling) in [
        (f.dir.path().to_path_buf(), Path::new("cfg").to_path_buf()),
        (
            f.dir.path().to_path_buf(),
            Path::new("./cfg/../cfg").to_path_buf(),
        ),
        (f.cfg().join("jails"), Path::new("..").to_path_buf()),
    ] {
        let plan = jailctl(&cwd, &spelling, &["plan"]);
        assert!(!plan.contains("jailctl:spec"), "{spelling:?}:\n{plan}");
        let list = jailctl(&cwd, &spelling, &["list"]);
        assert!(!list.contains("changed"), "{spelling:?}:\n{list}");
    }
    // The check can fail: a real change is seen through the other spelling.
    f.jail("web", true, &[], "hostname = \"other\"\n");
    let plan = jailctl(f.dir.path(), Path::new("cfg"), &["plan"]);
    assert!(plan.contains("jailctl:spec"), "{plan}");
}

/// Through `up` on the simulated host: a mount source and target holding Unicode spaces and
/// a control character are mounted at exactly those paths (jail(8) splits only on ASCII
/// whitespace), and the mount table shows them.
#[test]
fn unicode_spaces_in_mount_paths_reach_the_mount_table_exactly() {
    let f = Fleet::new();
    let src = "/srv/a\u{a0}b\u{3000}c\u{1}d";
    std::fs::create_dir_all(f.sim().join("root").join(&src[1..])).unwrap();
    f.jail(
        "web",
        true,
        &[],
        "[[mounts]]\nsource = \"/srv/a\\u00A0b\\u3000c\\u0001d\"\ntarget = \"/mnt/x\\u2003y\"\n",
    );
    let o = Command::cargo_bin("jailctl")
        .unwrap()
        .arg("--simulate")
        .arg(f.sim())
        .arg("--config-dir")
        .arg(f.cfg())
        .args(["up", "web"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let table = f.sim_output("/sbin/mount", &["-p"]).stdout;
    let line = table
        .lines()
        .find(|l| l.contains("nullfs"))
        .unwrap_or_else(|| panic!("no nullfs mount in:\n{table}"));
    let fields: Vec<&str> = line.split(['\t', ' ']).filter(|s| !s.is_empty()).collect();
    assert_eq!(
        &fields[..3],
        [src, "/usr/local/jails/web/mnt/x\u{2003}y", "nullfs"],
        "{line:?}"
    );
}
