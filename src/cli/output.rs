//! Everything the command line prints goes through here, so that it behaves the same in a
//! terminal, a pipe, a log file and the rc.d script:
//!
//! - standard output survives a closed pipe: `jailctl list | head -1` ends jailctl quietly
//!   with the status of a process killed by SIGPIPE (141 in sh), as `cat` or `ls` do, instead
//!   of a panic and a backtrace (Rust ignores SIGPIPE, so every write would fail with EPIPE);
//! - log lines (`tracing`) are plain words, without colour or the internal module path, unless
//!   stderr is a terminal and `NO_COLOR` is unset;
//! - error reports are never wrapped when stderr is not a terminal, and never inside a word
//!   (a dataset name like `zroot/jailctl/jails/db@jailctl-pre-x` stays whole, so it can be
//!   copied);
//! - the exit status says what kind of failure it was ([`Exit`], the one list of codes).

use std::fmt;
use std::io::{IsTerminal, Write};

/// jailctl's exit statuses, documented in `docs/cli.md` and the man page. `exec` and
/// `console` are the exception: they return the status of the command run in the jail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Done (or, for `doctor`, no check failed).
    Ok = 0,
    /// The host failed: a FreeBSD tool failed, a file could not be read or written, a
    /// download failed. Also any failure not in another class.
    HostFailure = 1,
    /// The command line itself is wrong (unknown option, missing argument); clap's status.
    Usage = 2,
    /// A jail definition or `jailctl.toml` is invalid, or names a jail that does not exist.
    InvalidConfig = 3,
    /// jailctl refused: the host is not ready (`doctor` FAIL), another run holds the lock,
    /// the jail is in the wrong state, a confirmation was declined or not given.
    Refused = 4,
    /// Standard output was closed early (`| head`): the status of a process killed by SIGPIPE.
    BrokenPipe = 141,
}

/// The exit statuses as `jailctl --help` and the man page list them.
pub const EXIT_STATUS_HELP: &str = "Exit status: 0 done; 1 the host failed (a FreeBSD tool, a file, a download); 2 the command line is wrong; 3 a definition or jailctl.toml is invalid, or names no defined jail; 4 refused (host not ready, jail in the wrong state, no confirmation; `doctor` with a FAIL). `exec` and `console` exit with the status of the command run in the jail. Into a closed pipe, jailctl ends as SIGPIPE ends other tools (141 in sh).";

impl Exit {
    pub fn code(self) -> std::process::ExitCode {
        std::process::ExitCode::from(self as u8)
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        e.code()
    }
}

/// An error that knows its exit status: an operation's error classed by the subcommand
/// ([`failure_of`]), or a refusal or an invalid configuration detected by the command line
/// itself ([`refused`], [`failure`]). Any other error exits with [`Exit::HostFailure`]. It
/// shows the error it holds as it is: its message, help, source chain and labels.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    error: Box<dyn miette::Diagnostic + Send + Sync + 'static>,
}

/// What the command line itself says: a message and the fix.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
struct Said {
    message: String,
    #[help]
    help: Option<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

impl miette::Diagnostic for Failure {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.error.code()
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.error.help()
    }
    fn url<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.error.url()
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.error.source_code()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.error.labels()
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        self.error.related()
    }
    fn diagnostic_source(&self) -> Option<&dyn miette::Diagnostic> {
        self.error.diagnostic_source()
    }
}

/// A refusal: exits with [`Exit::Refused`].
pub fn refused(message: impl Into<String>, help: impl Into<String>) -> miette::Report {
    failure(Exit::Refused, message, Some(help.into()))
}

/// An error with the given exit status.
pub fn failure(exit: Exit, message: impl Into<String>, help: Option<String>) -> miette::Report {
    failure_of(
        exit,
        Said {
            message: message.into(),
            help,
        },
    )
}

/// An operation's error with the exit status its subcommand gives it; its help and source
/// chain are kept for the report.
pub fn failure_of(
    exit: Exit,
    error: impl miette::Diagnostic + Send + Sync + 'static,
) -> miette::Report {
    miette::Report::new(Failure {
        exit,
        error: Box::new(error),
    })
}

/// The report as it is printed: the message, then each cause of the source chain that
/// says something the lines above it did not (an error that puts its cause into its own
/// message, as most of jailctl's do, is not repeated), and the help — the error's own or,
/// when it has none, the nearest one among the diagnostics it wraps (an operation's error
/// wrapping a failed command's deadline, say).
pub fn printable(report: miette::Report) -> miette::Report {
    let d: &dyn miette::Diagnostic = report.as_ref();
    let help = crate::host::help_of(d);
    let mut shown = vec![report.to_string()];
    let mut causes = Vec::new();
    let mut e = report.source();
    while let Some(c) = e {
        let text = c.to_string();
        if !said(&shown, &text) {
            causes.push(text.clone());
            shown.push(text);
        }
        e = c.source();
    }
    let chain = causes
        .into_iter()
        .rev()
        .fold(None, |next, text| Some(Box::new(Cause { text, next })));
    miette::Report::new(Printed {
        report,
        help,
        chain,
    })
}

/// Whether every piece of `text` (split at `: ` and line ends) already appears in `shown`,
/// spaces aside.
fn said(shown: &[String], text: &str) -> bool {
    let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let all: Vec<String> = shown.iter().map(|s| flat(s)).collect();
    text.lines()
        .flat_map(|l| l.split(": "))
        .map(flat)
        .filter(|p| !p.is_empty())
        .all(|p| all.iter().any(|s| s.contains(&p)))
}

/// One cause of [`printable`]'s chain, as text.
#[derive(Debug)]
struct Cause {
    text: String,
    next: Option<Box<Cause>>,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.next
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

/// A report with [`printable`]'s chain and help.
#[derive(Debug)]
struct Printed {
    report: miette::Report,
    help: Option<String>,
    chain: Option<Box<Cause>>,
}

impl fmt::Display for Printed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.report, f)
    }
}

impl std::error::Error for Printed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.chain
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

impl miette::Diagnostic for Printed {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.report.code()
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }
    fn url<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.report.url()
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.report.source_code()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.report.labels()
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        self.report.related()
    }
}

/// The exit status for an error report.
pub fn exit_for(report: &miette::Report) -> Exit {
    if is_broken_pipe(report) {
        return Exit::BrokenPipe;
    }
    if let Some(f) = report.downcast_ref::<Failure>() {
        return f.exit;
    }
    if report
        .downcast_ref::<crate::config::ConfigErrors>()
        .is_some()
    {
        return Exit::InvalidConfig;
    }
    Exit::HostFailure
}

/// Whether an error is (or was caused by) a write to a closed pipe.
pub fn is_broken_pipe(report: &miette::Report) -> bool {
    let mut e: Option<&(dyn std::error::Error + 'static)> = Some(report.as_ref());
    while let Some(err) = e {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::BrokenPipe
        {
            return true;
        }
        e = err.source();
    }
    false
}

/// End the process as one killed by SIGPIPE: what a shell pipeline expects of a command
/// whose reader went away. Nothing is printed.
pub fn die_of_broken_pipe() -> ! {
    #[cfg(unix)]
    {
        use nix::sys::signal::{SigHandler, Signal, raise, signal};
        // SAFETY: restoring the default disposition of one signal; no handler is installed.
        // The crate's only unsafe block (Cargo.toml denies the rest).
        #[allow(unsafe_code)]
        unsafe {
            let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
        }
        let _ = raise(Signal::SIGPIPE);
    }
    std::process::exit(Exit::BrokenPipe as i32)
}

/// Write to standard output; a closed pipe ends the process quietly
/// ([`die_of_broken_pipe`]). Other write errors are ignored, as `println!` would panic on
/// them and there is nowhere better to report them.
pub fn write_stdout(args: fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let r = out.write_fmt(args).and_then(|()| out.flush());
    if let Err(e) = r
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        die_of_broken_pipe();
    }
}

/// Write bytes to standard output, as [`write_stdout`].
pub fn write_stdout_bytes(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let r = out.write_all(bytes).and_then(|()| out.flush());
    if let Err(e) = r
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        die_of_broken_pipe();
    }
}

/// `print!` that survives a closed pipe.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::write_stdout(format_args!($($arg)*)) };
}

/// `println!` that survives a closed pipe.
#[macro_export]
macro_rules! outln {
    () => { $crate::cli::output::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Whether colour may be used on stderr: a terminal, and `NO_COLOR` unset or empty
/// (<https://no-color.org>).
pub fn stderr_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Log lines: `WARN message key=value`, coloured only when [`stderr_color`] allows, never
/// with the module path.
pub fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("JAILCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(stderr_color())
        .with_target(false)
        .without_time()
        .try_init();
}

/// Error reports: graphical (with colour) on a terminal, wrapped to its width but never
/// inside a word; plain and unwrapped otherwise, one message per line as written.
pub fn init_reports() {
    let tty = std::io::stderr().is_terminal();
    let color = stderr_color();
    let _ = miette::set_hook(Box::new(move |_| {
        let opts = miette::MietteHandlerOpts::new()
            .color(color)
            .unicode(color)
            .terminal_links(false)
            .break_words(false)
            .wrap_lines(tty);
        Box::new(opts.build())
    }));
}

/// Lay rows out in columns as wide as their widest cell, two spaces apart, the columns in
/// `right` aligned right; trailing blanks are trimmed. Every table jailctl prints goes
/// through here.
pub fn columns(rows: &[Vec<String>], right: &[usize]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let w: Vec<usize> = (0..n)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |x| x.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            if right.contains(&c) {
                line.push_str(&format!("{cell:>w$}", w = w[c]));
            } else {
                line.push_str(&format!("{cell:<w$}", w = w[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error, miette::Diagnostic)]
    #[error("writing the list")]
    struct Writing(#[source] std::io::Error);

    #[test]
    fn a_broken_pipe_below_other_errors_is_found() {
        let io = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let r = miette::Report::new(Writing(io)).wrap_err("listing");
        assert!(is_broken_pipe(&r));
        assert_eq!(exit_for(&r), Exit::BrokenPipe);
        let other = miette::Report::new(Writing(std::io::ErrorKind::NotFound.into()));
        assert!(!is_broken_pipe(&other));
        assert_eq!(exit_for(&other), Exit::HostFailure);
    }

    #[derive(Debug, thiserror::Error, miette::Diagnostic)]
    #[error("the tool failed: exit 1")]
    #[diagnostic(help("raise the knob"))]
    struct Leaf;

    #[derive(Debug, thiserror::Error, miette::Diagnostic)]
    enum Wrapper {
        /// Says its cause itself.
        #[error("jail `web`: start failed: {0}")]
        Says(
            #[source]
            #[diagnostic_source]
            Leaf,
        ),
        /// Does not.
        #[error("cannot start jail `web`")]
        Hides(#[source] std::io::Error),
    }

    fn chain(r: &miette::Report) -> Vec<String> {
        let mut out = Vec::new();
        let mut e = r.source();
        while let Some(c) = e {
            out.push(c.to_string());
            e = c.source();
        }
        out
    }

    #[test]
    fn printed_reports_keep_the_help_below_and_say_each_cause_once() {
        let r = failure_of(Exit::HostFailure, Wrapper::Says(Leaf));
        let p = printable(r);
        assert_eq!(
            p.to_string(),
            "jail `web`: start failed: the tool failed: exit 1"
        );
        assert!(chain(&p).is_empty(), "{:?}", chain(&p));
        assert_eq!(p.help().unwrap().to_string(), "raise the knob");

        let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let want = io.to_string();
        let p = printable(miette::Report::new(Wrapper::Hides(io)));
        assert_eq!(chain(&p), [want]);
        assert!(p.help().is_none());
        // The exit status comes from the report before it is made printable.
        assert_eq!(
            exit_for(&failure_of(Exit::Refused, Wrapper::Says(Leaf))),
            Exit::Refused
        );
    }

    #[test]
    fn refusals_and_config_errors_have_their_own_status() {
        assert_eq!(exit_for(&refused("no", "yes")), Exit::Refused);
        let f = failure(Exit::InvalidConfig, "bad", None);
        assert_eq!(exit_for(&f), Exit::InvalidConfig);
        assert_ne!(Exit::InvalidConfig as u8, Exit::Refused as u8);
        assert_ne!(Exit::HostFailure as u8, Exit::Refused as u8);
    }

    #[test]
    fn columns_pad_to_the_widest_cell_and_align_the_asked_ones_right() {
        let rows: Vec<Vec<String>> = [
            ["NAME", "JID", "NOTE"],
            ["résolver", "7", ""],
            ["db", "123", "x"],
        ]
        .iter()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
        assert_eq!(
            columns(&rows, &[1]),
            "NAME      JID  NOTE\nrésolver    7\ndb        123  x\n"
        );
    }
}
