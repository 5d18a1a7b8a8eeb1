//! Reading the configuration files: each one bounded in size and type before it is parsed,
//! its owner and mode checked, and a jail's `extends` chain of templates (the user's, then
//! the shipped ones) followed and merged under it. Every problem is recorded, with the file,
//! for the load to report together.

use super::error::{ConfigError, Sources};
use super::raw::{self, Node, Table, Val};
use super::{perms, rules, schema, templates};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A file read and parsed: its source index and table; `None` when either failed.
type Parsed = Option<(usize, Table)>;

pub(super) struct Loader {
    dir: PathBuf,
    pub(super) sources: Sources,
    pub(super) errs: Vec<ConfigError>,
    /// Template name → parsed file (None when it could not be read or parsed) and the errors
    /// reading it raised, replayed for every jail that extends it.
    templates: HashMap<String, (Parsed, Vec<ConfigError>)>,
    check_owner: bool,
}

/// The largest definition, template or global file jailctl reads: 1 MiB. A real one is a few
/// kilobytes; the bound keeps a mistaken path (a log, a device) from filling memory.
pub const MAX_FILE_SIZE: u64 = 1 << 20;

/// Why a configuration file could not be read: the message and the fix, which [`Loader::read`]
/// turns into a file-level [`ConfigError`].
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
enum ReadError {
    #[error("cannot read: {0}")]
    #[diagnostic(help("check the path and its permissions"))]
    Io(#[source] std::io::Error),
    #[error(
        "cannot read: it is {0}; configuration files must be regular files (a symlink to one is fine)"
    )]
    #[diagnostic(help("replace it with a regular file, or remove it"))]
    NotRegular(&'static str),
    #[error(
        "cannot read: larger than {MAX_FILE_SIZE} bytes (1 MiB), the most jailctl reads from a configuration file"
    )]
    #[diagnostic(help(
        "check that the path names the right file; split a huge definition into templates"
    ))]
    TooLarge,
    #[error("cannot read: not UTF-8 text (TOML files are UTF-8)")]
    #[diagnostic(help("convert the file to UTF-8"))]
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
    /// A loader of the files under `dir`, checking their owner and mode when the build
    /// enforces it ([`perms::enforced`]).
    pub(super) fn new(dir: &Path) -> Self {
        Loader {
            dir: dir.to_path_buf(),
            sources: Sources::default(),
            errs: vec![],
            templates: HashMap::new(),
            check_owner: perms::enforced(),
        }
    }

    pub(super) fn read(&mut self, path: &Path) -> Option<usize> {
        match read_bounded(path) {
            Ok(text) => {
                if self.check_owner
                    && let Err(e) = perms::check_path(path)
                {
                    self.errs.push(e);
                }
                Some(self.sources.add(path.to_path_buf(), text))
            }
            Err(e) => {
                let missing_global = matches!(&e, ReadError::Io(io) if io.kind() == std::io::ErrorKind::NotFound)
                    && path.file_name().is_some_and(|n| n == "jailctl.toml");
                let help = if missing_global {
                    "run `jailctl init` to set this host up (it writes the file), or point --config-dir at the right directory".to_string()
                } else {
                    miette::Diagnostic::help(&e).map_or_else(String::new, |h| h.to_string())
                };
                self.errs
                    .push(ConfigError::file_level(path, e.to_string(), Some(help)));
                None
            }
        }
    }

    pub(super) fn parse(&mut self, id: usize) -> Option<(usize, Table)> {
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
    pub(super) fn resolve(
        &mut self,
        table: Table,
        defaults: Option<&Table>,
    ) -> (Vec<String>, Table) {
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
