//! The side-effect seam. Everything jailctl does to a host goes through [`Runner`] (commands)
//! and [`HostFs`] (files jailctl itself writes), bundled as a [`Host`]. The real host is
//! [`system::SystemHost`]; the simulated FreeBSD host (crate `jailctl-sim`) implements the
//! same traits. Callers receive a `&dyn Host` explicitly; nothing here is picked by
//! `cfg!(test)`. This crate depends on no other crate of the workspace.

// No unsafe code at all in this crate (the workspace denies it; the one allowed block is in
// the binary's SIGPIPE handling).
#![forbid(unsafe_code)]

pub mod deadline;
pub mod jail_params;
pub mod nofollow;
pub mod platform;
pub mod readonly;
pub mod system;
pub mod tools;
pub mod zfs;

use std::fmt;
use std::path::Path;

/// One command: an absolute program path and its argv. Never run through a shell.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
    /// Bytes written to the command's standard input, which is then closed (`pfctl -f -`
    /// reads its rules so); `None`: stdin is `/dev/null`. Kept as text in the simulator's
    /// history.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "stdin_text")]
    pub stdin: Option<Vec<u8>>,
}

/// `Cmd::stdin` serialised as a string (what jailctl feeds commands is text), so the
/// simulator's history stays readable.
mod stdin_text {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&String::from_utf8_lossy(b)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(String::into_bytes))
    }
}

impl Cmd {
    pub fn new<I, S>(program: &str, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Cmd {
            program: program.to_string(),
            args: args.into_iter().map(Into::into).collect(),
            stdin: None,
        }
    }

    /// The same command with `input` on its standard input.
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// The program's base name (`zfs` for `/sbin/zfs`).
    pub fn tool(&self) -> &str {
        self.program.rsplit('/').next().unwrap_or(&self.program)
    }
}

/// Shell-style rendering, for messages and `--dry-run` only (never executed through a shell).
/// Standard input, when there is some, follows as a quoted here-document (`<<'EOF'`), which
/// sh(1) would pass on unexpanded.
impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shell_quote(&self.program))?;
        for a in &self.args {
            f.write_str(" ")?;
            f.write_str(&shell_quote(a))?;
        }
        if let Some(input) = &self.stdin {
            let text = String::from_utf8_lossy(input);
            // A terminator the text does not hold on a line of its own.
            let mut end = String::from("EOF");
            while text.lines().any(|l| l == end) {
                end.push('_');
            }
            write!(f, " <<'{end}'\n{text}")?;
            if !text.is_empty() && !text.ends_with('\n') {
                f.write_str("\n")?;
            }
            f.write_str(&end)?;
        }
        Ok(())
    }
}

/// Quote a word for display the way sh(1) would read it back.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,%+^".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What a finished command left behind. A non-zero `status` is not an `Err`: callers that
/// need success use [`Runner::run`].
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(stdout: impl Into<String>) -> Self {
        Output {
            status: 0,
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }
    pub fn fail(status: i32, stderr: impl Into<String>) -> Self {
        Output {
            status,
            stdout: String::new(),
            stderr: stderr.into(),
        }
    }
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// A command that could not be run, or ran and failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ProcessError {
    #[error("could not run `{cmd}`: {source}")]
    Spawn {
        cmd: Cmd,
        #[source]
        source: std::io::Error,
    },
    #[error("`{cmd}` exited with status {status}{}", stderr_suffix(.stderr))]
    Failed {
        cmd: Cmd,
        status: i32,
        stdout: String,
        stderr: String,
    },
    /// A read-only handle ([`readonly::ReadOnlyHost`]) refused a command that changes the host.
    #[error("refusing to run `{cmd}`: this is a read-only preview, which must not change the host")]
    #[diagnostic(help(
        "this is a bug in jailctl, please report it (the real command, without --dry-run, is not affected)"
    ))]
    ReadOnly { cmd: Cmd },
    /// The command ran past its deadline and was killed (see [`deadline`]).
    #[error(
        "`{cmd}` did not finish within its deadline of {} and was killed (with its process group)",
        deadline::show(*.after)
    )]
    #[diagnostic(help("if it needs longer, raise {knob}"))]
    TimedOut {
        cmd: Cmd,
        after: std::time::Duration,
        /// The setting that raises this deadline.
        knob: String,
    },
}

/// An error as one piece of text, for the places that keep text instead of the error (the
/// undo journal, the boot report, a log line): its message, then `; ` and the fix — its own
/// help, or the nearest one among the diagnostics it wraps. A report printed by the command
/// line shows the same help on its own line instead.
pub fn explain(e: &dyn miette::Diagnostic) -> String {
    let msg = e.to_string();
    match help_of(e) {
        Some(h) if !msg.contains(&h) => format!("{msg}; {h}"),
        _ => msg,
    }
}

/// The help of `e`, or of the nearest diagnostic below it (`diagnostic_source`).
pub fn help_of(e: &dyn miette::Diagnostic) -> Option<String> {
    let mut d = Some(e);
    while let Some(x) = d {
        if let Some(h) = x.help() {
            return Some(h.to_string());
        }
        d = x.diagnostic_source();
    }
    None
}

fn stderr_suffix(stderr: &str) -> String {
    let t = stderr.trim();
    if t.is_empty() {
        String::new()
    } else {
        format!(": {t}")
    }
}

impl ProcessError {
    /// `cmd` ran and answered `out`, which is a failure.
    pub fn failed(cmd: &Cmd, out: Output) -> Self {
        ProcessError::Failed {
            cmd: cmd.clone(),
            status: out.status,
            stdout: out.stdout,
            stderr: out.stderr,
        }
    }

    pub fn cmd(&self) -> &Cmd {
        match self {
            ProcessError::Spawn { cmd, .. }
            | ProcessError::Failed { cmd, .. }
            | ProcessError::ReadOnly { cmd }
            | ProcessError::TimedOut { cmd, .. } => cmd,
        }
    }
}

/// Runs commands on a host.
pub trait Runner {
    /// Run with captured stdout and stderr, within the deadline of its tool (see
    /// [`deadline`]). `Err` when the command could not be started or ran past its deadline.
    fn output(&self, cmd: &Cmd) -> Result<Output, ProcessError>;

    /// [`Runner::output`] with an explicit deadline instead of the tool's (health probes use
    /// their `[health] timeout`). The real and the simulated host kill the command on expiry;
    /// in-memory test hosts, whose commands cannot hang, may ignore the deadline.
    fn output_within(
        &self,
        cmd: &Cmd,
        deadline: std::time::Duration,
    ) -> Result<Output, ProcessError> {
        let _ = deadline;
        self.output(cmd)
    }

    /// Run with its standard input read from `input` and its standard output written to
    /// `output` as it comes (`zfs send` into an archive, `zfs receive` from one), within
    /// `deadline`; stderr is captured into the returned [`Output`] (whose `stdout` is empty
    /// when `output` is given). Without `input` the command reads an empty stdin. A host that
    /// cannot stream (an in-memory test host) refuses with [`ProcessError::Spawn`] naming the
    /// command, so nothing half-streams.
    fn pipe(
        &self,
        cmd: &Cmd,
        input: Option<&mut (dyn std::io::Read + Send)>,
        output: Option<&mut dyn std::io::Write>,
        deadline: std::time::Duration,
    ) -> Result<Output, ProcessError> {
        let _ = (input, output, deadline);
        Err(ProcessError::Spawn {
            cmd: cmd.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "this host handle cannot stream a command's input or output (use the real or the simulated host)",
            ),
        })
    }

    /// Run attached to the caller's terminal (`exec`, `console`); returns the exit status.
    fn interactive(&self, cmd: &Cmd) -> Result<i32, ProcessError>;

    /// Run and require exit status 0.
    fn run(&self, cmd: &Cmd) -> Result<Output, ProcessError> {
        let out = self.output(cmd)?;
        if out.success() {
            Ok(out)
        } else {
            Err(ProcessError::Failed {
                cmd: cmd.clone(),
                status: out.status,
                stdout: out.stdout,
                stderr: out.stderr,
            })
        }
    }
}

/// The files jailctl itself reads and writes on the host (rendered jail.conf, files inside a
/// jail's root, the journal). Paths are host paths; a simulated host maps them under its
/// own directory.
pub trait HostFs {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>>;
    fn write(&self, path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()>;
    /// Add `contents` at the end of `path`, creating it with `mode` if missing, durably on
    /// the real host ([`system::append_durable`]). Not atomic: a kill can leave part of
    /// `contents`, so a caller writes whole lines and reads only lines that end in a newline.
    /// A link in place of `path` is refused, not followed.
    fn append(&self, path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()>;
    fn mkdir_p(&self, path: &Path, mode: u32) -> std::io::Result<()>;
    fn exists(&self, path: &Path) -> bool;
    fn remove_file(&self, path: &Path) -> std::io::Result<()>;
    /// Remove an empty directory (rmdir(2)); a directory that is not empty is an error. The
    /// undo of a mount removes the directories mounting it made. A host that cannot do this
    /// (a read-only or test handle) says so.
    fn remove_dir(&self, path: &Path) -> std::io::Result<()> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!(
                "cannot remove directory {} through this host handle",
                path.display()
            ),
        ))
    }
    /// Entries of a directory (names only), sorted.
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<String>>;
    /// Where a host path really is on this machine: itself on the real host, a path under the
    /// simulator's directory on a simulated one. For code that must hand a real directory to a
    /// library (extracting a tar archive into a dataset's mountpoint).
    fn local_path(&self, path: &Path) -> std::path::PathBuf;
    /// The target of `path` when `path` itself is a symbolic link (not followed), `None`
    /// when it is anything else or does not exist. Links in its parent are followed (on a
    /// simulated host, within the simulator's directory).
    fn link_target(&self, path: &Path) -> std::io::Result<Option<std::path::PathBuf>> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok(None);
        };
        let local = self.local_path(parent).join(name);
        match std::fs::symlink_metadata(&local) {
            Ok(m) if m.file_type().is_symlink() => std::fs::read_link(&local).map(Some),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
    /// Write `root/rel` without following any symbolic link below `root` (files inside a
    /// jail's root, which the jail's root user controls). See [`nofollow`].
    fn write_in_root(
        &self,
        root: &Path,
        rel: &Path,
        contents: &[u8],
        mode: u32,
    ) -> std::io::Result<()> {
        nofollow::write_in_root(&self.local_path(root), rel, contents, mode)
    }
    /// Read `root/rel` without following any symbolic link below `root`.
    fn read_in_root(&self, root: &Path, rel: &Path) -> std::io::Result<Vec<u8>> {
        nofollow::read_in_root(&self.local_path(root), rel)
    }
    /// Make the directory `root/rel` (and missing parents, 0755) without following any
    /// symbolic link below `root`.
    fn mkdir_in_root(&self, root: &Path, rel: &Path) -> std::io::Result<()> {
        nofollow::mkdir_in_root(&self.local_path(root), rel)
    }
    /// Remove `root/rel` without following any symbolic link below `root`.
    fn remove_in_root(&self, root: &Path, rel: &Path) -> std::io::Result<()> {
        nofollow::remove_in_root(&self.local_path(root), rel)
    }
}

/// A host: commands plus files. `describe` is shown once in output from a simulated host.
pub trait Host: Runner + HostFs {
    /// `Some("simulated FreeBSD host at DIR")` for a simulated host, `None` for the real one.
    fn simulated(&self) -> Option<String>;

    /// The live RACCT usage of the jails `names`, all at once and without a process per
    /// jail, when this host can read it so ([`crate::platform::jail_usages`] on FreeBSD, the
    /// simulator's state under one lock); jails not running are left out. `None` (the
    /// default): the caller runs `rctl -u jail:NAME` per jail.
    fn racct_usage(
        &self,
        names: &[String],
    ) -> Option<Result<crate::platform::Usages, crate::platform::PlatformError>> {
        let _ = names;
        None
    }
}
