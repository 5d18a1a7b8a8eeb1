//! Getting distribution sets and their MANIFEST from where the user said: a local directory or
//! an http(s) release directory. Downloads go to a partial file in a cache directory and are
//! resumed with an HTTP `Range` request when the server allows it (a server that answers
//! `200` instead of `206` simply sends the whole file again). A finished download is only
//! renamed into place; whether it is trusted is decided by [`verify`].

use super::manifest::{Manifest, ManifestError, Sha256Digest};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where distribution sets come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A local directory holding `MANIFEST` and `<set>.txz`.
    Dir(PathBuf),
    /// An http(s) URL of a release directory; always ends in `/`.
    Url(String),
}

impl Source {
    /// `http://...`/`https://...` is a URL, anything else a local directory (which must exist).
    pub fn parse(s: &str) -> Result<Source, FetchError> {
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            let mut url = s.to_string();
            if !url.ends_with('/') {
                url.push('/');
            }
            return Ok(Source::Url(url));
        }
        if lower.contains("://") {
            return Err(FetchError::BadSource {
                source_text: s.to_string(),
                reason: "only http:// and https:// URLs or local directories are supported".into(),
            });
        }
        let p = PathBuf::from(s);
        if !p.is_dir() {
            return Err(FetchError::BadSource {
                source_text: s.to_string(),
                reason: "no such directory (give a directory holding base.txz and MANIFEST, or an http(s) URL of a release directory)".into(),
            });
        }
        Ok(Source::Dir(p.canonicalize().unwrap_or(p)))
    }

    /// How the source is recorded (`jailctl:source`).
    pub fn display(&self) -> String {
        match self {
            Source::Dir(p) => p.display().to_string(),
            Source::Url(u) => u.clone(),
        }
    }

    fn location(&self, file: &str) -> String {
        match self {
            Source::Dir(p) => p.join(file).display().to_string(),
            Source::Url(u) => format!("{u}{file}"),
        }
    }
}

/// Why distribution sets could not be fetched or verified.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum FetchError {
    #[error("cannot use `{source_text}` as a source of distribution sets: {reason}")]
    #[diagnostic(help(
        "give an http(s) URL of a release directory (e.g. https://download.freebsd.org/releases/amd64/14.2-RELEASE/) or a local directory holding MANIFEST and the sets"
    ))]
    BadSource { source_text: String, reason: String },
    #[error("cannot read {what}: {cause}")]
    Io {
        what: String,
        #[source]
        cause: io::Error,
    },
    /// `reason` says what the server answered (its HTTP status).
    #[error("download of {url} failed: {reason}")]
    #[diagnostic(help("check the URL and the network, then run the command again"))]
    Http { url: String, reason: String },
    /// The connection or the transfer failed.
    #[error("download of {url} failed: {source}")]
    #[diagnostic(help("check the URL and the network, then run the command again"))]
    Transport {
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("{location} is not a valid MANIFEST: {cause}")]
    Manifest {
        location: String,
        #[source]
        #[diagnostic_source]
        cause: ManifestError,
    },
    #[error("{location} not found")]
    #[diagnostic(help(
        "check the release and architecture in --from, and the set names in --sets"
    ))]
    Missing { location: String },
    #[error(
        "checksum mismatch for {set}.txz ({path}): expected SHA-256 {expected} ({from}), got {actual}; {after}"
    )]
    Mismatch {
        set: String,
        path: String,
        /// Hexadecimal digests.
        expected: Box<str>,
        actual: Box<str>,
        from: String,
        /// What became of the file.
        after: &'static str,
        /// What to do.
        #[help]
        fix: &'static str,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> FetchError {
    let what = what.into();
    move |cause| FetchError::Io { what, cause }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        // No limit on the body: a release set is hundreds of megabytes on links of any speed;
        // an interrupted download resumes on the next run.
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .user_agent(concat!("jailctl/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Read the source's MANIFEST; `Ok(None)` when it has none (missing file, HTTP 404).
pub fn fetch_manifest(source: &Source) -> Result<Option<Manifest>, FetchError> {
    let location = source.location("MANIFEST");
    let text = match source {
        Source::Dir(dir) => match fs::read_to_string(dir.join("MANIFEST")) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(location)(e)),
        },
        Source::Url(_) => {
            let http = |reason: String| FetchError::Http {
                url: location.clone(),
                reason,
            };
            let transport = |e: ureq::Error| FetchError::Transport {
                url: location.clone(),
                source: Box::new(e),
            };
            let mut resp = agent().get(&location).call().map_err(&transport)?;
            match resp.status().as_u16() {
                200 => {}
                404 => return Ok(None),
                s => return Err(http(format!("the server answered HTTP {s}"))),
            }
            resp.body_mut()
                .with_config()
                .limit(1 << 20)
                .read_to_string()
                .map_err(&transport)?
        }
    };
    Manifest::parse(&text)
        .map(Some)
        .map_err(|cause| FetchError::Manifest { location, cause })
}

/// Make `file` available locally: the file itself for a directory source, a (resumed)
/// download in `cache_dir` for a URL. Shows a progress bar when `progress` is set and standard
/// error is a terminal.
pub fn fetch_set(
    source: &Source,
    file: &str,
    cache_dir: &Path,
    progress: bool,
) -> Result<PathBuf, FetchError> {
    match source {
        Source::Dir(dir) => {
            let p = dir.join(file);
            if p.is_file() {
                Ok(p)
            } else {
                Err(FetchError::Missing {
                    location: p.display().to_string(),
                })
            }
        }
        Source::Url(base) => {
            let url = format!("{base}{file}");
            let dir = cache_dir.join(cache_key(base));
            fs::create_dir_all(&dir).map_err(io_err(format!(
                "the download cache {} (create it or pass a writable --cache-dir)",
                dir.display()
            )))?;
            let dest = dir.join(file);
            if dest.is_file() {
                return Ok(dest);
            }
            download(&url, &dest, progress)?;
            Ok(dest)
        }
    }
}

/// A directory name for a release URL: its host and path with anything unusual as `_`.
pub fn cache_key(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let key: String = rest
        .trim_end_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Never `.`, `..` or empty: those are not names of a directory of their own.
    if key.chars().all(|c| c == '.') {
        format!("_{key}")
    } else {
        key
    }
}

/// Download `url` to `dest`, through `dest.part`, resuming a partial file if there is one.
pub fn download(url: &str, dest: &Path, progress: bool) -> Result<(), FetchError> {
    let part = PathBuf::from(format!("{}.part", dest.display()));
    let have = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let http = |reason: String| FetchError::Http {
        url: url.to_string(),
        reason,
    };
    let transport = |e: ureq::Error| FetchError::Transport {
        url: url.to_string(),
        source: Box::new(e),
    };
    let mut req = agent().get(url);
    if have > 0 {
        req = req.header("Range", format!("bytes={have}-"));
    }
    let mut resp = req.call().map_err(&transport)?;
    let status = resp.status().as_u16();
    let resume_from = match status {
        200 => 0,
        206 => {
            let range = resp
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            match parse_content_range_start(range) {
                Some(start) if start == have => have,
                _ => {
                    return Err(http(format!(
                        "the server answered a resume request for bytes {have}- with `Content-Range: {range}`; remove {} and try again",
                        part.display()
                    )));
                }
            }
        }
        416 if have > 0 => {
            // Our partial file is not a prefix of what the server has now: start over.
            fs::remove_file(&part).map_err(io_err(part.display().to_string()))?;
            return download(url, dest, progress);
        }
        404 => {
            return Err(FetchError::Missing {
                location: url.to_string(),
            });
        }
        s => return Err(http(format!("the server answered HTTP {s}"))),
    };
    let total = resp.body().content_length().map(|l| l + resume_from);
    let mut out = fs::OpenOptions::new()
        .create(true)
        .append(resume_from > 0)
        .write(true)
        .truncate(resume_from == 0)
        .open(&part)
        .map_err(io_err(part.display().to_string()))?;
    let bar = progress_bar(progress, total, url);
    bar.set_position(resume_from);
    let mut reader = resp.body_mut().as_reader();
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = resume_from;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                bar.abandon();
                return Err(http(format!(
                    "{e} after {got} bytes; run the command again to resume from {}",
                    part.display()
                )));
            }
        };
        out.write_all(&buf[..n])
            .map_err(io_err(part.display().to_string()))?;
        got += n as u64;
        bar.set_position(got);
    }
    out.sync_all().map_err(io_err(part.display().to_string()))?;
    drop(out);
    if let Some(t) = total
        && got != t
    {
        bar.abandon();
        return Err(http(format!(
            "received {got} of {t} bytes; run the command again to resume from {}",
            part.display()
        )));
    }
    bar.finish_and_clear();
    fs::rename(&part, dest).map_err(io_err(dest.display().to_string()))
}

fn progress_bar(progress: bool, total: Option<u64>, url: &str) -> indicatif::ProgressBar {
    if !progress || !io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = match total {
        Some(t) => indicatif::ProgressBar::new(t),
        None => indicatif::ProgressBar::no_length(),
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(url.rsplit('/').next().unwrap_or(url).to_string());
    bar
}

/// The first byte of `bytes START-END/TOTAL`.
fn parse_content_range_start(v: &str) -> Option<u64> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (start, _) = rest.split_once('-')?;
    start.trim().parse().ok()
}

/// SHA-256 of a file's contents.
pub fn sha256_file(path: &Path) -> io::Result<Sha256Digest> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(Sha256Digest(h.finalize().into()))
}

/// Check `path` against `expected`. On a mismatch a file in the download cache is removed
/// (`remove_on_mismatch`), so the next run downloads it afresh; a user's own file is left.
pub fn verify(
    set: &str,
    path: &Path,
    expected: Sha256Digest,
    from: &str,
    remove_on_mismatch: bool,
) -> Result<(), FetchError> {
    let actual = sha256_file(path).map_err(io_err(path.display().to_string()))?;
    if actual == expected {
        return Ok(());
    }
    if remove_on_mismatch {
        let _ = fs::remove_file(path);
    }
    Err(FetchError::Mismatch {
        set: set.to_string(),
        path: path.display().to_string(),
        expected: expected.to_string().into(),
        actual: actual.to_string().into(),
        from: from.to_string(),
        after: if remove_on_mismatch {
            "the download was removed (a damaged or tampered file)"
        } else {
            "the file was not used"
        },
        fix: if remove_on_mismatch {
            "run the command again to fetch it afresh, and check the source if it fails again"
        } else {
            "check that it is the set you meant and that the digest is right"
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_urls_or_existing_directories() {
        assert_eq!(
            Source::parse("https://example.org/releases/amd64/14.2-RELEASE").unwrap(),
            Source::Url("https://example.org/releases/amd64/14.2-RELEASE/".into())
        );
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            Source::parse(d.path().to_str().unwrap()).unwrap(),
            Source::Dir(_)
        ));
        let e = Source::parse("/nonexistent/jailctl-sets").unwrap_err();
        assert!(e.to_string().contains("no such directory"), "{e}");
        let e = Source::parse("ftp://example.org/x").unwrap_err();
        assert!(e.to_string().contains("only http"), "{e}");
    }

    #[test]
    fn cache_keys_are_single_safe_path_components() {
        assert_eq!(
            cache_key("https://download.example.org/releases/amd64/14.2-RELEASE/"),
            "download.example.org_releases_amd64_14.2-RELEASE"
        );
        assert!(!cache_key("http://a/../b?c").contains('/'));
        assert_eq!(cache_key("http://.."), "_..");
    }

    #[test]
    fn content_range_start() {
        assert_eq!(parse_content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(parse_content_range_start("bytes */200"), None);
        assert_eq!(parse_content_range_start("items 1-2/3"), None);
    }
}
