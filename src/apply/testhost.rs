//! A small typed host for tests of apply and ops: it models only datasets, jails, rctl
//! rules, cpusets and files, answers the read-only commands `observe` runs, and fails on any
//! command it does not know, as the real tools fail on a malformed command.

use crate::host::{Cmd, HostFs, Output, ProcessError, Runner};
use crate::observe::{Dataset, HostState};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Model {
    pub datasets: BTreeMap<String, BTreeMap<String, String>>,
    pub jails: BTreeSet<String>,
    pub rctl: BTreeMap<String, Vec<String>>,
    pub cpusets: BTreeMap<String, String>,
    pub files: BTreeMap<PathBuf, Vec<u8>>,
}

#[derive(Default)]
pub(crate) struct TestHost {
    pub m: RefCell<Model>,
    pub log: RefCell<Vec<String>>,
    /// Fail the first command whose text contains this.
    pub fail_on: RefCell<Option<String>>,
}

fn fail(msg: &str) -> Output {
    Output::fail(1, msg)
}

impl TestHost {
    pub fn with_base() -> TestHost {
        let h = TestHost::default();
        h.m.borrow_mut().datasets.insert(
            "zroot/jailctl/bases/14.2-RELEASE@jailctl".into(),
            BTreeMap::new(),
        );
        // The host layout `up` ensures first (tested on the simulator).
        for p in [
            "zroot/jailctl",
            "zroot/jailctl/jails",
            "zroot/jailctl/bases",
            "zroot/jailctl/volumes",
        ] {
            h.m.borrow_mut().datasets.insert(p.into(), BTreeMap::new());
        }
        h.m.borrow_mut().files.insert(
            "/etc/resolv.conf".into(),
            b"nameserver 192.0.2.1\n".to_vec(),
        );
        h
    }

    /// What observe would report.
    pub fn state(&self) -> HostState {
        let m = self.m.borrow();
        HostState {
            racct: Some(true),
            datasets: m
                .datasets
                .iter()
                .map(|(k, p)| {
                    (
                        k.clone(),
                        Dataset {
                            name: k.clone(),
                            props: p.clone(),
                        },
                    )
                })
                .collect(),
            jails: m
                .jails
                .iter()
                .map(|n| {
                    (
                        n.clone(),
                        crate::observe::JailInfo {
                            name: n.clone(),
                            hostname: format!("{n}.example.org"),
                            ..Default::default()
                        },
                    )
                })
                .collect(),
            rctl_rules: m.rctl.clone(),
            ..HostState::default()
        }
    }

    fn exec(&self, program: &str, a: &[&str]) -> Output {
        let mut m = self.m.borrow_mut();
        match (program, a) {
            ("/sbin/zfs", ["clone", rest @ ..]) => {
                let (opts, names) = rest.split_at(rest.len() - 2);
                let (snap, ds) = (names[0], names[1]);
                if !m.datasets.contains_key(snap) {
                    return fail(&format!("cannot open '{snap}': dataset does not exist"));
                }
                if m.datasets.contains_key(ds) {
                    return fail(&format!("cannot create '{ds}': dataset already exists"));
                }
                let mut props = BTreeMap::new();
                for pair in opts.chunks(2) {
                    let ["-o", kv] = pair else {
                        return fail("usage");
                    };
                    let (k, v) = kv.split_once('=').unwrap();
                    props.insert(k.to_string(), v.to_string());
                }
                m.datasets.insert(ds.to_string(), props);
            }
            ("/sbin/zfs", ["list", "-H", "-o", "name", "-d", "1", root]) => {
                if !m.datasets.contains_key(*root) {
                    return fail(&format!("cannot open '{root}': dataset does not exist"));
                }
                let below = format!("{root}/");
                let out: String = m
                    .datasets
                    .keys()
                    .filter(|k| {
                        *k == root
                            || k.strip_prefix(&below)
                                .is_some_and(|r| !r.contains(['/', '@']))
                    })
                    .map(|k| format!("{k}\n"))
                    .collect();
                return Output::ok(out);
            }
            ("/sbin/zfs", ["create", "-p", rest @ ..]) => {
                let ds = rest[rest.len() - 1];
                // OpenZFS 2.2: `create -p` of an existing dataset succeeds and changes nothing.
                if m.datasets.contains_key(ds) {
                    return Output::ok("");
                }
                let mut props = BTreeMap::new();
                for pair in rest[..rest.len() - 1].chunks(2) {
                    let ["-o", kv] = pair else {
                        return fail("usage");
                    };
                    let (k, v) = kv.split_once('=').unwrap();
                    props.insert(k.to_string(), v.to_string());
                }
                m.datasets.insert(ds.to_string(), props);
            }
            ("/sbin/zfs", ["destroy", flags @ .., ds]) if flags.len() <= 1 => {
                if !m.datasets.contains_key(*ds) {
                    return fail(&format!("cannot open '{ds}': dataset does not exist"));
                }
                let prefix = format!("{ds}/");
                let children = m.datasets.keys().any(|k| k.starts_with(&prefix));
                if children && flags != ["-r"] {
                    return fail(&format!("cannot destroy '{ds}': filesystem has children"));
                }
                m.datasets.retain(|k, _| k != ds && !k.starts_with(&prefix));
            }
            ("/sbin/zfs", ["rename", from, to]) => {
                let Some(p) = m.datasets.remove(*from) else {
                    return fail(&format!("cannot open '{from}': dataset does not exist"));
                };
                m.datasets.insert(to.to_string(), p);
            }
            ("/sbin/zfs", ["set", rest @ ..]) if rest.len() >= 2 => {
                let ds = rest[rest.len() - 1];
                let Some(p) = m.datasets.get_mut(ds) else {
                    return fail(&format!("cannot open '{ds}': dataset does not exist"));
                };
                for kv in &rest[..rest.len() - 1] {
                    let Some((k, v)) = kv.split_once('=') else {
                        return fail("usage");
                    };
                    p.insert(k.into(), v.into());
                }
            }
            ("/sbin/zfs", ["inherit", k, ds]) => {
                let Some(p) = m.datasets.get_mut(*ds) else {
                    return fail(&format!("cannot open '{ds}': dataset does not exist"));
                };
                p.remove(*k);
            }
            ("/usr/sbin/jail", ["-f", conf, op @ ("-c" | "-r"), name]) => {
                if !m.files.contains_key(Path::new(conf)) {
                    return fail(&format!("jail: {conf}: No such file or directory"));
                }
                if *op == "-c" && !m.jails.insert(name.to_string()) {
                    return fail(&format!("jail: \"{name}\" already exists"));
                }
                if *op == "-r" && !m.jails.remove(*name) {
                    return fail(&format!("jail: \"{name}\" not found"));
                }
            }
            ("/usr/sbin/jail", ["-m", name, params @ ..]) if !params.is_empty() => {
                let n = name.strip_prefix("name=").unwrap_or("");
                if !m.jails.contains(n) {
                    return fail(&format!("jail: \"{n}\" not found"));
                }
            }
            ("/usr/bin/rctl", ["-a", rules @ ..]) if !rules.is_empty() => {
                for r in rules {
                    let parts: Vec<&str> = r.split(':').collect();
                    if parts.len() != 4 || parts[0] != "jail" || !parts[3].contains('=') {
                        return fail(&format!("rctl: failed to add rule '{r}': Invalid argument"));
                    }
                    m.rctl
                        .entry(parts[1].into())
                        .or_default()
                        .push(r.to_string());
                }
            }
            ("/usr/bin/rctl", ["-r", filter]) => {
                let Some(n) = filter.strip_prefix("jail:") else {
                    return fail("usage");
                };
                m.rctl.remove(n);
            }
            ("/usr/bin/cpuset", ["-l", cpus, "-j", name]) => {
                if !m.jails.contains(*name) {
                    return fail(&format!("cpuset: jail_getid: jail \"{name}\" not found"));
                }
                m.cpusets.insert(name.to_string(), cpus.to_string());
            }
            // The read-only commands of `observe`, in exactly the forms it sends.
            (
                "/sbin/zfs",
                [
                    "get",
                    "-H",
                    "-p",
                    "-r",
                    "-o",
                    "name,property,value,source",
                    props,
                    root,
                ],
            ) => {
                let prefix = format!("{root}/");
                let mut out = String::new();
                let mut any = false;
                for (ds, p) in &m.datasets {
                    if ds != root && !ds.starts_with(&prefix) {
                        continue;
                    }
                    any = true;
                    for k in props.split(',') {
                        let (v, src) = match p.get(k) {
                            Some(v) => (v.as_str(), "local"),
                            None => ("-", "-"),
                        };
                        out.push_str(&format!("{ds}\t{k}\t{v}\t{src}\n"));
                    }
                }
                if !any {
                    return fail(&format!("cannot open '{root}': dataset does not exist"));
                }
                return Output::ok(out);
            }
            (
                "/usr/sbin/jls",
                [
                    "--libxo",
                    "json",
                    "-d",
                    "jid",
                    "name",
                    "path",
                    "host.hostname",
                    "ip4.addr",
                    "ip6.addr",
                    "dying",
                ],
            ) => {
                let jails: Vec<serde_json::Value> = m
                    .jails
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        serde_json::json!({
                            "jid": (i + 1).to_string(), "name": n,
                            "path": format!("/usr/local/jails/{n}"),
                            "host.hostname": format!("{n}.example.org"),
                            "ip4.addr": [], "ip6.addr": [], "dying": false
                        })
                    })
                    .collect();
                let v = serde_json::json!({"__version": "2", "jail-information": {"jail": jails}});
                return Output::ok(v.to_string());
            }
            ("/usr/sbin/jls", ["-j", name, "jid"]) => {
                if !m.jails.contains(*name) {
                    return fail(&format!("jls: jail \"{name}\" not found"));
                }
            }
            ("/sbin/sysctl", ["-n", "kern.racct.enable" | "kern.features.vimage"]) => {
                return Output::ok("1\n");
            }
            ("/usr/bin/rctl", ["jail:"]) => {
                let rules: Vec<String> = m.rctl.values().flatten().cloned().collect();
                return Output::ok(rules.join("\n"));
            }
            ("/sbin/ifconfig", ["-l"]) => return Output::ok("em0 lo0\n"),
            ("/sbin/mount", ["-p"]) => return Output::ok(""),
            _ => return Output::fail(2, format!("unexpected command: {program} {a:?}")),
        }
        Output::ok("")
    }
}

impl Runner for TestHost {
    fn output(&self, cmd: &Cmd) -> Result<Output, ProcessError> {
        let text = cmd.to_string();
        self.log.borrow_mut().push(text.clone());
        let inject = self.fail_on.borrow().clone();
        if let Some(pat) = inject
            && text.contains(&pat)
        {
            *self.fail_on.borrow_mut() = None;
            return Ok(Output::fail(1, "injected failure"));
        }
        let args: Vec<&str> = cmd.args.iter().map(String::as_str).collect();
        Ok(self.exec(&cmd.program, &args))
    }
    fn interactive(&self, cmd: &Cmd) -> Result<i32, ProcessError> {
        Ok(self.output(cmd)?.status)
    }
}

fn not_found(p: &Path) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotFound, p.display().to_string())
}

impl HostFs for TestHost {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        self.m
            .borrow()
            .files
            .get(path)
            .cloned()
            .ok_or_else(|| not_found(path))
    }
    fn write(&self, path: &Path, contents: &[u8], _mode: u32) -> std::io::Result<()> {
        self.m
            .borrow_mut()
            .files
            .insert(path.into(), contents.to_vec());
        Ok(())
    }
    fn mkdir_p(&self, _path: &Path, _mode: u32) -> std::io::Result<()> {
        Ok(())
    }
    fn exists(&self, path: &Path) -> bool {
        let m = self.m.borrow();
        m.files.contains_key(path) || m.files.keys().any(|k| k.starts_with(path))
    }
    /// Directories are not modelled: only files, so there is nothing to remove.
    fn remove_dir(&self, _path: &Path) -> std::io::Result<()> {
        Ok(())
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        self.m
            .borrow_mut()
            .files
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<String>> {
        let m = self.m.borrow();
        Ok(m.files
            .keys()
            .filter(|k| k.parent() == Some(path))
            .map(|k| k.file_name().unwrap().to_string_lossy().into_owned())
            .collect())
    }
    fn write_in_root(&self, root: &Path, rel: &Path, c: &[u8], mode: u32) -> std::io::Result<()> {
        self.write(&root.join(rel), c, mode)
    }
    fn read_in_root(&self, root: &Path, rel: &Path) -> std::io::Result<Vec<u8>> {
        self.read(&root.join(rel))
    }
    fn remove_in_root(&self, root: &Path, rel: &Path) -> std::io::Result<()> {
        self.remove_file(&root.join(rel))
    }
    fn mkdir_in_root(&self, root: &Path, rel: &Path) -> std::io::Result<()> {
        self.mkdir_p(&root.join(rel), 0o755)
    }
    fn local_path(&self, path: &Path) -> PathBuf {
        path.to_path_buf()
    }
}

impl crate::host::Host for TestHost {
    fn simulated(&self) -> Option<String> {
        Some("test host".into())
    }
}
