//! Configuration errors that people can act on: each one names the file, line and column,
//! quotes the offending source line, says what is wrong and, where it can, the fix. The plain
//! [`ConfigError`] struct is what tests assert on; miette renders the same data with labels.

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One source file read during a load, kept for line/column lookup and rendering.
#[derive(Debug)]
pub(crate) struct SourceFile {
    pub path: PathBuf,
    pub text: Arc<NamedSource<String>>,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: PathBuf, text: String) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let named = NamedSource::new(path.display().to_string(), text);
        SourceFile {
            path,
            text: Arc::new(named),
            line_starts,
        }
    }

    fn text(&self) -> &str {
        self.text.inner()
    }

    /// 1-based line and column (in characters) of a byte offset, and that line's text.
    pub fn locate(&self, offset: usize) -> (usize, usize, String) {
        let text = self.text();
        let offset = offset.min(text.len());
        let line_idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line_idx];
        let end = text[start..].find('\n').map_or(text.len(), |e| start + e);
        let column = text[start..offset].chars().count() + 1;
        let line = text[start..end].trim_end_matches('\r').to_string();
        (line_idx + 1, column, line)
    }
}

/// All files of one load, addressed by index.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    pub files: Vec<SourceFile>,
}

impl Sources {
    pub fn add(&mut self, path: PathBuf, text: String) -> usize {
        self.files.push(SourceFile::new(path, text));
        self.files.len() - 1
    }

    pub fn text(&self, file: usize) -> &str {
        self.files[file].text()
    }

    /// An error pointing at `span` of `file`.
    pub fn error(
        &self,
        file: usize,
        span: Range<usize>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> ConfigError {
        let f = &self.files[file];
        let (line, column, source_line) = f.locate(span.start);
        ConfigError {
            file: f.path.clone(),
            line,
            column,
            message: message.into(),
            help,
            source_line,
            located: Some(Box::new(Located {
                offset: span.start,
                len: span.end.saturating_sub(span.start),
                source: f.text.clone(),
            })),
        }
    }
}

/// One configuration error. `line` and `column` are 1-based; both are 0 when the error is
/// about a file as a whole (a bad file name, a file that cannot be read).
#[derive(Debug, Clone)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when jailctl knows.
    pub help: Option<String>,
    /// The source line the error points into (empty without a position).
    pub source_line: String,
    located: Option<Box<Located>>,
}

/// Where in which text an error points, for rendering.
#[derive(Debug, Clone)]
struct Located {
    offset: usize,
    len: usize,
    source: Arc<NamedSource<String>>,
}

impl ConfigError {
    /// An error about a whole file, without a position.
    pub fn file_level(file: &Path, message: impl Into<String>, help: Option<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            message: message.into(),
            help,
            source_line: String::new(),
            located: None,
        }
    }

    fn key(&self) -> (PathBuf, usize, usize, String) {
        (
            self.file.clone(),
            self.line,
            self.column,
            self.message.clone(),
        )
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )
        } else {
            write!(f, "{}: {}", self.file.display(), self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

impl Diagnostic for ConfigError {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.located.as_ref().map(|l| &l.source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let l = self.located.as_ref()?;
        Some(Box::new(std::iter::once(
            LabeledSpan::new_primary_with_span(Some("here".to_string()), (l.offset, l.len)),
        )))
    }
}

/// Every error found while loading a configuration directory.
#[derive(Debug, Clone)]
pub struct ConfigErrors {
    pub dir: PathBuf,
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// Sort by file and position and drop duplicates (a template used by several jails
    /// reports its mistakes once).
    pub(crate) fn new(dir: PathBuf, mut errors: Vec<ConfigError>) -> Self {
        errors.sort_by_key(|e| e.key());
        errors.dedup_by(|a, b| a.key() == b.key());
        ConfigErrors { dir, errors }
    }

    /// One line per error, `file:line:column: message`, for logs and tests.
    pub fn plain(&self) -> String {
        let mut out = String::new();
        for e in &self.errors {
            out.push_str(&e.to_string());
            if let Some(h) = &e.help {
                out.push_str(&format!(" (help: {h})"));
            }
            out.push('\n');
        }
        out
    }

    /// The report people read: the summary, then each error with its source excerpt, label
    /// and help, one after the other. Rendered here rather than as miette's related
    /// diagnostics, which put an empty `Error:` line before each one.
    pub fn render(&self) -> String {
        let handler = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::default())
            .with_break_words(false)
            .with_wrap_lines(std::io::IsTerminal::is_terminal(&std::io::stderr()));
        let mut out = format!("{self}:\n\n");
        for e in &self.errors {
            let mut one = String::new();
            if handler.render_report(&mut one, e).is_err() {
                one = format!("{e}\n");
            }
            out.push_str(one.trim_end());
            out.push_str("\n\n");
        }
        out
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "{n} error{} in the configuration in {}",
            if n == 1 { "" } else { "s" },
            self.dir.display()
        )
    }
}

impl std::error::Error for ConfigErrors {}

impl Diagnostic for ConfigErrors {
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.errors.iter().map(|e| e as &dyn Diagnostic)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_counts_lines_and_characters() {
        let f = SourceFile::new("x.toml".into(), "a = 1\nbé = \"x\"\n".into());
        assert_eq!(f.locate(0), (1, 1, "a = 1".to_string()));
        let off = "a = 1\nbé = ".len();
        assert_eq!(f.locate(off), (2, 6, "bé = \"x\"".to_string()));
    }

    #[test]
    fn duplicates_are_reported_once() {
        let mut s = Sources::default();
        let id = s.add("t.toml".into(), "x = 1\n".into());
        let e = s.error(id, 0..1, "bad", None);
        let all = ConfigErrors::new("d".into(), vec![e.clone(), e]);
        assert_eq!(all.errors.len(), 1);
        assert_eq!(all.plain(), "t.toml:1:1: bad\n");
    }
}
