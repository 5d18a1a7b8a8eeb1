//! One load of a configuration directory, in its stages: `jailctl.toml`, the list of jail
//! files, each file read and merged with its templates, each jail validated, then the checks
//! across jails. Every error is attributed to the global file or to the jail it breaks, so
//! [`super::load`] can fail on any and [`super::load_lenient`] can set broken jails aside.

use super::cross::cross_checks;
use super::error::ConfigError;
use super::files::Loader;
use super::raw::Table;
use super::spec::{Global, JailSpec};
use super::validate::{self, V};
use super::{DEFAULT_SHUTDOWN_TIMEOUT, dying_wait_from_env, rules};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Everything one load found, with each error attributed to the global file or to a jail.
pub(super) struct LoadAll {
    pub(super) global: Global,
    pub(super) global_errs: Vec<ConfigError>,
    /// Jails without any error, sorted by name.
    pub(super) jails: Vec<JailSpec>,
    pub(super) broken: BTreeMap<String, Vec<ConfigError>>,
}

pub(super) fn load_all(config_dir: &Path) -> LoadAll {
    let mut loader = Loader::new(config_dir);
    let (global, defaults) = global(&mut loader, config_dir);
    let jail_files = jail_files(&mut loader, config_dir);
    let global_errs = std::mem::take(&mut loader.errs);

    let mut broken: BTreeMap<String, Vec<ConfigError>> = BTreeMap::new();
    let mut defined = BTreeSet::new();
    let parsed = read_jails(
        &mut loader,
        jail_files,
        defaults.as_ref(),
        &mut broken,
        &mut defined,
    );
    let (mut jails, refs) = validate_jails(&loader, &parsed, &global, &mut broken);
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

/// `jailctl.toml` validated, with its `[defaults]`; the built-in settings when it cannot be
/// read or parsed (the loader holds why).
fn global(loader: &mut Loader, config_dir: &Path) -> (Global, Option<Table>) {
    let global_path = config_dir.join("jailctl.toml");
    let global_table = loader.read(&global_path).and_then(|id| loader.parse(id));
    match &global_table {
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
    }
}

/// The `*.toml` files of `<config_dir>/jails`, sorted; hidden files skipped, others warned
/// about. A missing directory is no jails.
fn jail_files(loader: &mut Loader, config_dir: &Path) -> Vec<PathBuf> {
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
    jail_files
}

/// A jail file read and merged: name, path, `extends` chain (root-most first), merged table.
type Merged = (String, PathBuf, Vec<String>, Table);

/// Read each jail file and merge it with `[defaults]` and its templates. A file whose name
/// is not a jail name, or that cannot be read or merged, goes to `broken`; every file with a
/// valid name is `defined`.
fn read_jails(
    loader: &mut Loader,
    jail_files: Vec<PathBuf>,
    defaults: Option<&Table>,
    broken: &mut BTreeMap<String, Vec<ConfigError>>,
    defined: &mut BTreeSet<String>,
) -> Vec<Merged> {
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
            let (chain, merged) = loader.resolve(table, defaults);
            parsed.push((name.clone(), path, chain, merged));
        }
        let errs = std::mem::take(&mut loader.errs);
        if !errs.is_empty() {
            broken.entry(name).or_default().extend(errs);
        }
    }
    parsed
}

/// Validate each merged jail; its errors go to `broken`. Every jail is returned (with what the
/// cross-jail checks need), broken or not.
fn validate_jails(
    loader: &Loader,
    parsed: &[Merged],
    global: &Global,
    broken: &mut BTreeMap<String, Vec<ConfigError>>,
) -> (Vec<JailSpec>, Vec<validate::JailRefs>) {
    let mut jails = vec![];
    let mut refs = vec![];
    for (name, path, chain, merged) in parsed {
        let mut v = V {
            src: &loader.sources,
            errs: vec![],
        };
        let (spec, r) = validate::jail(&mut v, name, path.clone(), chain.clone(), merged, global);
        if !v.errs.is_empty() {
            broken.entry(name.clone()).or_default().append(&mut v.errs);
        }
        jails.push(spec);
        refs.push(r);
    }
    (jails, refs)
}
