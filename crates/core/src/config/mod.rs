//! Configuration: what the user wrote, read and validated without looking at the host.
//!
//! Stage one parses the TOML (global `jailctl.toml`, one `jails/<name>.toml` per jail,
//! `extends` templates) into a raw mirror that keeps source spans. Stage two validates it into
//! the spec types of [`spec`], which the rest of jailctl consumes. Every error names the file,
//! line and column, and all errors of a run are reported together.

pub mod error;
pub mod layout;
pub mod perms;
pub(crate) mod raw;
pub mod rules;
pub mod schema;
pub mod spec;
pub mod templates;
pub mod units;
pub(crate) mod validate;

pub use error::{ConfigError, ConfigErrors};
pub use spec::*;

use error::Sources;
use raw::{Node, Table, Val};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use validate::V;

/// A loaded, validated configuration directory.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Config {
    pub global: Global,
    /// Sorted by name.
    pub jails: Vec<JailSpec>,
    pub dir: PathBuf,
}

impl Config {
    pub fn jail(&self, name: &str) -> Option<&JailSpec> {
        self.jails.iter().find(|j| j.name == name)
    }
}

/// Read and validate only `<config_dir>/jailctl.toml`: for commands that need the global
/// settings but no jail (`jailctl base ...`), so a broken jail file does not block them.
pub fn load_global(config_dir: &Path) -> Result<Global, ConfigErrors> {
    let mut loader = Loader {
        dir: config_dir.to_path_buf(),
        sources: Sources::default(),
        errs: vec![],
        templates: HashMap::new(),
        check_owner: perms::enforced(),
    };
    let global_path = config_dir.join("jailctl.toml");
    let global = loader
        .read(&global_path)
        .and_then(|id| loader.parse(id))
        .map(|(id, t)| {
            let mut v = V {
                src: &loader.sources,
                errs: vec![],
            };
            let (g, _) = validate::global(&mut v, id, &t);
            (g, v.errs)
        });
    match global {
        Some((g, mut errs)) => {
            loader.errs.append(&mut errs);
            if loader.errs.is_empty() {
                return Ok(g);
            }
        }
        None if loader.errs.is_empty() => {
            // read/parse always explain a failure; keep a message if they ever do not.
            loader.errs.push(ConfigError::file_level(
                &global_path,
                "cannot read the global settings".to_string(),
                None,
            ));
        }
        None => {}
    }
    Err(ConfigErrors::new(config_dir.to_path_buf(), loader.errs))
}

/// Read and validate `<config_dir>/jailctl.toml`, `<config_dir>/jails/*.toml` and the templates
/// they extend. Returns every error found, not only the first: one broken file fails the whole
/// load (for `validate`, `up --all`). Commands that must act on the valid rest of the fleet use
/// [`load_lenient`].
pub fn load(config_dir: &Path) -> Result<Config, ConfigErrors> {
    let all = load_all(config_dir);
    let mut errs = all.global_errs;
    for (_, e) in all.broken {
        errs.extend(e);
    }
    if errs.is_empty() {
        Ok(Config {
            global: all.global,
            jails: all.jails,
            dir: config_dir.to_path_buf(),
        })
    } else {
        Err(ConfigErrors::new(config_dir.to_path_buf(), errs))
    }
}

/// Default orderly budget of a shutdown (`shutdown_timeout`): 60 s, leaving room under the
/// common 90 s `rcshutdown_timeout`.
pub const DEFAULT_SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// Default wait for a shutdown's force-stops: 60 + 20 s stays under 90 s.
pub const DEFAULT_FORCE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// How long destroy, re-create and an undo wait for a removed jail to finish dying:
/// `JAILCTL_DYING_WAIT` (seconds, fractions allowed, at most a day) or 10 s. A value that is
/// not that is reported (naming the variable and the accepted form) and the default is used.
pub fn dying_wait_from_env() -> std::time::Duration {
    const DEFAULT: std::time::Duration = std::time::Duration::from_secs(10);
    match std::env::var("JAILCTL_DYING_WAIT") {
        Ok(v) => parse_dying_wait(&v).unwrap_or_else(|e| {
            tracing::warn!("{e}; waiting the default 10 s");
            DEFAULT
        }),
        Err(_) => DEFAULT,
    }
}

/// Parse a `JAILCTL_DYING_WAIT` value: seconds, fractions allowed, from 0 to 86400.
pub fn parse_dying_wait(v: &str) -> Result<std::time::Duration, String> {
    let bad =
        || format!("JAILCTL_DYING_WAIT={v}: expected seconds from 0 to 86400, e.g. 30 or 2.5");
    let s: f64 = v.trim().parse().map_err(|_| bad())?;
    if !(0.0..=86400.0).contains(&s) {
        return Err(bad());
    }
    std::time::Duration::try_from_secs_f64(s).map_err(|_| bad())
}

/// rc.shutdown's usual watchdog (`rcshutdown_timeout`): past it, rc kills every process and
/// jails lose their orderly stop.
pub const RC_SHUTDOWN_WATCHDOG: std::time::Duration = std::time::Duration::from_secs(90);

/// Settings that are valid but probably not what the admin wants; `validate` prints them
/// without failing.
pub fn warnings(global: &Global) -> Vec<String> {
    let mut out = vec![];
    let total = global
        .shutdown_timeout
        .saturating_add(DEFAULT_FORCE_TIMEOUT);
    if total >= RC_SHUTDOWN_WATCHDOG {
        out.push(format!(
            "shutdown_timeout = {}s plus {}s of force-stops is {}s, not under rc.shutdown's usual {}s watchdog (rcshutdown_timeout): jails still up then are killed without their exec.stop; use at most {}s, or raise rcshutdown_timeout in /etc/rc.conf above {}s",
            global.shutdown_timeout.as_secs(),
            DEFAULT_FORCE_TIMEOUT.as_secs(),
            total.as_secs(),
            RC_SHUTDOWN_WATCHDOG.as_secs(),
            (RC_SHUTDOWN_WATCHDOG - DEFAULT_FORCE_TIMEOUT).as_secs() - 1,
            total.as_secs(),
        ));
    }
    out
}

/// Time allowed beyond a jail's own hook timeouts for the rest of `jail -c`/`-r` (mounts,
/// addresses, the kernel's own work) before the `jail` deadline may kill it.
pub const JAIL_DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(60);

/// Jails whose hooks may outlast `[deadlines] jail`: jail(8) bounds each hook command by
/// `exec.timeout`, so `jail -c` may take that times its hook commands (exec.prestart,
/// exec.created, exec.start or the default `/bin/sh /etc/rc`, exec.poststart; likewise for
/// `jail -r`). jailctl would kill jail(8) in the middle of a hook that is within its own
/// timeout; `validate` prints these without failing.
pub fn jail_warnings(global: &Global, jails: &[JailSpec]) -> Vec<String> {
    let deadline = global.deadlines.for_tool("jail");
    let mut out = vec![];
    for j in jails {
        let Some(spec::ParamValue::Int(t)) = j.params.get("exec.timeout") else {
            continue;
        };
        let Ok(t) = u64::try_from(*t) else { continue };
        let h = &j.hooks;
        let start = h.prestart.len() + h.created.len() + h.start.len().max(1) + h.poststart.len();
        let stop = h.prestop.len() + h.stop.len().max(1) + h.poststop.len();
        let hooks = start.max(stop) as u64;
        let worst = std::time::Duration::from_secs(t.saturating_mul(hooks));
        if worst.saturating_add(JAIL_DEADLINE_MARGIN) > deadline {
            out.push(format!(
                "jail {}: exec.timeout = {t} over {hooks} hook command(s) lets jail(8) take {}s, and with {}s for the rest that is over the `jail` deadline of {}: jailctl would kill jail(8) in the middle of a hook; raise [deadlines] jail in jailctl.toml to at least {}s, or lower exec.timeout",
                j.name,
                worst.as_secs(),
                JAIL_DEADLINE_MARGIN.as_secs(),
                crate::host::deadline::show(deadline),
                worst.saturating_add(JAIL_DEADLINE_MARGIN).as_secs(),
            ));
        }
    }
    out
}

/// A configuration loaded leniently: the jails whose definitions are valid, and for each
/// broken definition its own errors, so one bad file does not stop the rest of the fleet.
#[derive(Debug, Clone)]
pub struct Lenient {
    /// The global settings and every jail whose definition is valid. A valid jail may still
    /// depend on a broken one: see [`Lenient::broken_deps`].
    pub config: Config,
    /// Jail name (the file stem) → the errors of that definition, sorted by name. Errors in
    /// a template count for every jail extending it; a dependency cycle or an address used
    /// twice counts for every jail involved.
    pub broken: Vec<(String, ConfigErrors)>,
}

impl Lenient {
    /// The errors of jail `name`, if its definition is broken.
    pub fn broken(&self, name: &str) -> Option<&ConfigErrors> {
        self.broken.iter().find(|(n, _)| n == name).map(|(_, e)| e)
    }

    /// Every name with a definition file: valid and broken, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut all: Vec<String> = self.config.jails.iter().map(|j| j.name.clone()).collect();
        all.extend(self.broken.iter().map(|(n, _)| n.clone()));
        all.sort();
        all
    }

    /// The broken jails `name` needs, directly or through valid dependencies, sorted.
    pub fn broken_deps(&self, name: &str) -> Vec<String> {
        let mut out = std::collections::BTreeSet::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut stack = vec![name.to_string()];
        while let Some(n) = stack.pop() {
            if !seen.insert(n.clone()) {
                continue;
            }
            if n != name && self.broken(&n).is_some() {
                out.insert(n);
            } else if let Some(j) = self.config.jail(&n) {
                stack.extend(j.depends_on.iter().cloned());
            }
        }
        out.into_iter().collect()
    }
}

/// Like [`load`], but a broken jail definition only puts that jail aside: the valid rest
/// loads. Fails only when the global file `jailctl.toml` (or the `jails` directory listing)
/// has errors, since every jail depends on it; those errors alone are returned.
pub fn load_lenient(config_dir: &Path) -> Result<Lenient, ConfigErrors> {
    let all = load_all(config_dir);
    if !all.global_errs.is_empty() {
        return Err(ConfigErrors::new(config_dir.to_path_buf(), all.global_errs));
    }
    Ok(Lenient {
        config: Config {
            global: all.global,
            jails: all.jails,
            dir: config_dir.to_path_buf(),
        },
        broken: all
            .broken
            .into_iter()
            .map(|(n, e)| (n, ConfigErrors::new(config_dir.to_path_buf(), e)))
            .collect(),
    })
}

/// Everything one load found, with each error attributed to the global file or to a jail.
struct LoadAll {
    global: Global,
    global_errs: Vec<ConfigError>,
    /// Jails without any error, sorted by name.
    jails: Vec<JailSpec>,
    broken: BTreeMap<String, Vec<ConfigError>>,
}

fn load_all(config_dir: &Path) -> LoadAll {
    let mut loader = Loader {
        dir: config_dir.to_path_buf(),
        sources: Sources::default(),
        errs: vec![],
        templates: HashMap::new(),
        check_owner: perms::enforced(),
    };
    let global_path = config_dir.join("jailctl.toml");
    let global_table = loader.read(&global_path).and_then(|id| loader.parse(id));
    let (global, defaults) = match &global_table {
        Some((id, t)) => {
            let mut v = V {
                src: &loader.sources,
                errs: vec![],
            };
            let r = validate::global(&mut v, *id, t);
            loader.errs.append(&mut v.errs);
            r
        }
        None => (
            Global {
                zfs_root: String::new(),
                mount_root: PathBuf::from("/usr/local/jails"),
                default_base: None,
                parallelism: None,
                shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
                bridges: BTreeMap::new(),
                networks: BTreeMap::new(),
                deadlines: Default::default(),
                dying_wait: dying_wait_from_env(),
            },
            None,
        ),
    };

    let mut jail_files = vec![];
    let jails_dir = config_dir.join("jails");
    match std::fs::read_dir(&jails_dir) {
        Ok(rd) => {
            for entry in rd.flatten() {
                let p = entry.path();
                let hidden = p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'));
                if p.extension().is_some_and(|e| e == "toml") && !hidden {
                    jail_files.push(p);
                } else if !hidden && p.is_file() {
                    tracing::warn!("ignoring {}: jail definitions end in .toml", p.display());
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => loader.errs.push(ConfigError::file_level(
            &jails_dir,
            format!("cannot list the jail definitions: {e}"),
            Some("make the directory readable by the user running jailctl".into()),
        )),
    }
    jail_files.sort();
    let global_errs = std::mem::take(&mut loader.errs);

    let mut broken: BTreeMap<String, Vec<ConfigError>> = BTreeMap::new();
    let mut defined = std::collections::BTreeSet::new();
    let mut parsed = vec![];
    for path in jail_files {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Err(e) = rules::check_jail_name(&name) {
            broken
                .entry(name)
                .or_default()
                .push(ConfigError::file_level(
                    &path,
                    e,
                    Some("the file name (without .toml) is the jail name: rename the file".into()),
                ));
            continue;
        }
        defined.insert(name.clone());
        let table = loader.read(&path).and_then(|id| loader.parse(id));
        if let Some((_, table)) = table {
            let (chain, merged) = loader.resolve(table, defaults.as_ref());
            parsed.push((name.clone(), path, chain, merged));
        }
        let errs = std::mem::take(&mut loader.errs);
        if !errs.is_empty() {
            broken.entry(name).or_default().extend(errs);
        }
    }

    let mut jails = vec![];
    let mut refs = vec![];
    for (name, path, chain, merged) in &parsed {
        let mut v = V {
            src: &loader.sources,
            errs: vec![],
        };
        let (spec, r) = validate::jail(&mut v, name, path.clone(), chain.clone(), merged, &global);
        if !v.errs.is_empty() {
            broken.entry(name.clone()).or_default().append(&mut v.errs);
        }
        jails.push(spec);
        refs.push(r);
    }
    for (i, e) in cross_checks(&loader.sources, &jails, &refs, &defined) {
        broken.entry(jails[i].name.clone()).or_default().push(e);
    }
    jails.retain(|j| !broken.contains_key(&j.name));
    LoadAll {
        global,
        global_errs,
        jails,
        broken,
    }
}

/// A file read and parsed: its source index and table; `None` when either failed.
type Parsed = Option<(usize, Table)>;

struct Loader {
    dir: PathBuf,
    sources: Sources,
    errs: Vec<ConfigError>,
    /// Template name → parsed file (None when it could not be read or parsed) and the errors
    /// reading it raised, replayed for every jail that extends it.
    templates: HashMap<String, (Parsed, Vec<ConfigError>)>,
    check_owner: bool,
}

/// The largest definition, template or global file jailctl reads: 1 MiB. A real one is a few
/// kilobytes; the bound keeps a mistaken path (a log, a device) from filling memory.
pub const MAX_FILE_SIZE: u64 = 1 << 20;

/// Why a configuration file could not be read, already phrased for the user.
#[derive(Debug)]
enum ReadError {
    Io(std::io::Error),
    NotRegular(&'static str),
    TooLarge,
    NotUtf8,
}

/// Read a configuration file: a regular file (a symlink to one is fine) of at most
/// [`MAX_FILE_SIZE`] bytes, UTF-8. The file is opened non-blocking so a FIFO does not hang the
/// open, its type is checked on the open descriptor (no race with a swapped path), and at
/// most one byte more than the bound is ever read.
fn read_bounded(path: &Path) -> Result<String, ReadError> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(ReadError::Io)?;
    let meta = f.metadata().map_err(ReadError::Io)?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let kind = if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_char_device() {
            "a character device"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(ReadError::NotRegular(kind));
    }
    let mut buf = Vec::with_capacity(meta.len().min(MAX_FILE_SIZE) as usize + 1);
    f.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut buf)
        .map_err(ReadError::Io)?;
    if buf.len() as u64 > MAX_FILE_SIZE {
        return Err(ReadError::TooLarge);
    }
    String::from_utf8(buf).map_err(|_| ReadError::NotUtf8)
}

impl Loader {
    fn read(&mut self, path: &Path) -> Option<usize> {
        match read_bounded(path) {
            Ok(text) => {
                if self.check_owner
                    && let Err(e) = perms::check_path(path)
                {
                    self.errs.push(e);
                }
                Some(self.sources.add(path.to_path_buf(), text))
            }
            Err(ReadError::Io(e)) => {
                let help = if e.kind() == std::io::ErrorKind::NotFound
                    && path.file_name().is_some_and(|n| n == "jailctl.toml")
                {
                    "run `jailctl init` to set this host up (it writes the file), or point --config-dir at the right directory"
                } else {
                    "check the path and its permissions"
                };
                self.errs.push(ConfigError::file_level(
                    path,
                    format!("cannot read: {e}"),
                    Some(help.into()),
                ));
                None
            }
            Err(ReadError::NotRegular(kind)) => {
                self.errs.push(ConfigError::file_level(
                    path,
                    format!("cannot read: it is {kind}; configuration files must be regular files (a symlink to one is fine)"),
                    Some("replace it with a regular file, or remove it".into()),
                ));
                None
            }
            Err(ReadError::TooLarge) => {
                self.errs.push(ConfigError::file_level(
                    path,
                    format!("cannot read: larger than {} bytes (1 MiB), the most jailctl reads from a configuration file", MAX_FILE_SIZE),
                    Some("check that the path names the right file; split a huge definition into templates".into()),
                ));
                None
            }
            Err(ReadError::NotUtf8) => {
                self.errs.push(ConfigError::file_level(
                    path,
                    "cannot read: not UTF-8 text (TOML files are UTF-8)".to_string(),
                    Some("convert the file to UTF-8".into()),
                ));
                None
            }
        }
    }

    fn parse(&mut self, id: usize) -> Option<(usize, Table)> {
        match raw::parse(&self.sources, id) {
            Ok(t) => Some((id, t)),
            Err(e) => {
                self.errs.push(e);
                None
            }
        }
    }

    /// The template `name`: the user's `<config_dir>/templates/<name>.toml` wins over the
    /// shipped one.
    fn template(&mut self, name: &str) -> Option<Option<(usize, Table)>> {
        if let Some((t, errs)) = self.templates.get(name) {
            self.errs.extend(errs.iter().cloned());
            return Some(t.clone());
        }
        let before = self.errs.len();
        let user = self.dir.join("templates").join(format!("{name}.toml"));
        // Anything at that path is the user's template: a FIFO or device there is an error
        // (read_bounded says so), not a reason to fall back to the shipped template.
        let loaded = if user.symlink_metadata().is_ok() {
            self.read(&user).and_then(|id| self.parse(id))
        } else if let Some(text) = templates::shipped(name) {
            let id = self
                .sources
                .add(templates::shipped_path(name), text.to_string());
            self.parse(id)
        } else {
            return None;
        };
        let errs = self.errs[before..].to_vec();
        self.templates
            .insert(name.to_string(), (loaded.clone(), errs));
        Some(loaded)
    }

    fn known_templates(&self) -> Vec<String> {
        let mut names: Vec<String> = templates::SHIPPED
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        if let Ok(rd) = std::fs::read_dir(self.dir.join("templates")) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "toml")
                    && let Some(s) = p.file_stem()
                {
                    names.push(s.to_string_lossy().into_owned());
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }

    /// Follow the `extends` chain of a jail file and merge defaults, templates (root-most
    /// first) and the file itself. Returns the chain, root-most first, and the merged table.
    fn resolve(&mut self, table: Table, defaults: Option<&Table>) -> (Vec<String>, Table) {
        let mut layers = vec![table.clone()];
        let mut chain: Vec<String> = vec![];
        let mut next: Option<Node> = table.get("extends").map(|e| e.node.clone());
        while let Some(n) = next.take() {
            let Val::Str(name) = &n.val else {
                self.errs.push(self.sources.error(
                    n.file,
                    n.span.clone(),
                    format!(
                        "extends must be a template name (a string), not {}",
                        n.val.kind()
                    ),
                    None,
                ));
                break;
            };
            if let Some(pos) = chain.iter().position(|c| c == name) {
                let mut cycle = chain[pos..].to_vec();
                cycle.push(name.clone());
                self.errs.push(self.sources.error(
                    n.file,
                    n.span.clone(),
                    format!(
                        "templates extend each other in a cycle: {}",
                        cycle.join(" -> ")
                    ),
                    Some("remove one of the extends in the cycle".into()),
                ));
                break;
            }
            if let Err((msg, help)) = rules::check_template_name(name) {
                self.errs
                    .push(self.sources.error(n.file, n.span.clone(), msg, Some(help)));
                break;
            }
            match self.template(name) {
                Some(Some((_, t))) => {
                    chain.push(name.clone());
                    next = t.get("extends").map(|e| e.node.clone());
                    layers.push(t);
                }
                Some(None) => break,
                None => {
                    let known = self.known_templates();
                    let msg = match schema::suggest(name, known.iter().map(String::as_str)) {
                        Some(s) => format!("unknown template \"{name}\"; did you mean \"{s}\"?"),
                        None => format!("unknown template \"{name}\""),
                    };
                    self.errs.push(self.sources.error(
                        n.file,
                        n.span.clone(),
                        msg,
                        Some(format!(
                            "templates: {} (add your own as {}/templates/{name}.toml)",
                            known.join(", "),
                            self.dir.display()
                        )),
                    ));
                    break;
                }
            }
        }
        let mut merged = defaults.cloned().unwrap_or_default();
        for layer in layers.into_iter().rev() {
            raw::merge(&mut merged, layer);
        }
        chain.reverse();
        (chain, merged)
    }
}

/// Checks that need all jails: dependencies exist and have no cycle, addresses are unique.
/// Each error comes with the jail it makes unusable (one error may concern several jails:
/// every member of a cycle, both jails sharing an address). `defined` holds every jail with
/// a definition file, valid or not: depending on a broken jail is not an unknown dependency.
fn cross_checks(
    src: &Sources,
    jails: &[JailSpec],
    refs: &[validate::JailRefs],
    defined: &std::collections::BTreeSet<String>,
) -> Vec<(usize, ConfigError)> {
    let mut out = vec![];
    let mut v = V { src, errs: vec![] };
    let index: HashMap<&str, usize> = jails
        .iter()
        .enumerate()
        .map(|(i, j)| (j.name.as_str(), i))
        .collect();
    for (i, r) in refs.iter().enumerate() {
        for (d, n) in &r.deps {
            if !defined.contains(d) {
                let msg = match schema::suggest(d, defined.iter().map(String::as_str)) {
                    Some(s) => format!("depends on unknown jail \"{d}\"; did you mean \"{s}\"?"),
                    None => format!("depends on unknown jail \"{d}\""),
                };
                v.err(
                    n,
                    msg,
                    Some(format!(
                        "define it in jails/{d}.toml or remove it from depends_on"
                    )),
                );
                out.extend(v.errs.drain(..).map(|e| (i, e)));
            }
        }
    }
    // Dependency cycles: depth-first search, reporting each cycle once at its first jail and
    // charging it to every member.
    let mut state = vec![0u8; jails.len()]; // 0 new, 1 on stack, 2 done
    let mut stack: Vec<usize> = vec![];
    #[allow(clippy::too_many_arguments)]
    fn dfs(
        i: usize,
        v: &mut V,
        out: &mut Vec<(usize, ConfigError)>,
        jails: &[JailSpec],
        refs: &[validate::JailRefs],
        index: &HashMap<&str, usize>,
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) {
        state[i] = 1;
        stack.push(i);
        for (d, n) in &refs[i].deps {
            let Some(&j) = index.get(d.as_str()) else {
                continue;
            };
            if state[j] == 1 {
                let pos = stack.iter().position(|&s| s == j).unwrap_or(0);
                let members = stack[pos..].to_vec();
                let mut names: Vec<&str> =
                    members.iter().map(|&s| jails[s].name.as_str()).collect();
                names.push(&jails[j].name);
                v.err(
                    n,
                    format!("dependency cycle: {}", names.join(" -> ")),
                    Some(
                        "jails in a cycle can never start; remove one of these depends_on entries"
                            .into(),
                    ),
                );
                for e in v.errs.drain(..) {
                    out.extend(members.iter().map(|&m| (m, e.clone())));
                }
            } else if state[j] == 0 {
                dfs(j, v, out, jails, refs, index, state, stack);
            }
        }
        stack.pop();
        state[i] = 2;
    }
    for i in 0..jails.len() {
        if state[i] == 0 {
            dfs(
                i, &mut v, &mut out, jails, refs, &index, &mut state, &mut stack,
            );
        }
    }
    // The same address in two jails: both are at fault, each is told about the other.
    let mut seen: HashMap<std::net::IpAddr, (usize, &Node)> = HashMap::new();
    let mut charged = std::collections::HashSet::new();
    for (i, r) in refs.iter().enumerate() {
        let mut own = std::collections::HashSet::new();
        for (a, n) in &r.addrs {
            if !own.insert(*a) {
                v.err(n, format!("address {a} is listed twice"), None);
                out.extend(v.errs.drain(..).map(|e| (i, e)));
                continue;
            }
            match seen.get(a) {
                Some(&(o, first)) => {
                    v.err(
                        n,
                        format!("address {a} is also used by jail \"{}\"", jails[o].name),
                        Some("give each jail its own address".into()),
                    );
                    out.extend(v.errs.drain(..).map(|e| (i, e)));
                    if charged.insert((*a, o)) {
                        v.err(
                            first,
                            format!("address {a} is also used by jail \"{}\"", jails[i].name),
                            Some("give each jail its own address".into()),
                        );
                        out.extend(v.errs.drain(..).map(|e| (o, e)));
                    }
                }
                None => {
                    seen.insert(*a, (i, n));
                }
            }
        }
    }
    out.extend(validate::port_conflicts(&mut v, jails, refs));
    out
}
