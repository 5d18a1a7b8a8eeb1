//! The `MANIFEST` of a FreeBSD release directory: which distribution sets exist and the
//! SHA-256 each must have. jailctl trusts a set only after its digest matches the one here (or
//! one the user pinned with `--sha256`), so this parser is strict about what it accepts.
//!
//! One line per set, tab-separated (the layout written by the release tooling):
//! `base.txz <TAB> <sha256> <TAB> <number of files> <TAB> base <TAB> "Base system (MANDATORY)" <TAB> on`.

use std::collections::BTreeMap;
use std::fmt;

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

/// Text that is not a SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("`{text}` is not a SHA-256 digest: {reason}")]
#[diagnostic(help("a SHA-256 digest is 64 hexadecimal digits"))]
pub struct DigestError {
    pub text: String,
    pub reason: String,
}

impl Sha256Digest {
    /// Parse 64 hexadecimal digits (either case).
    pub fn parse_hex(s: &str) -> Result<Self, DigestError> {
        let s = s.trim();
        let bad = |reason: String| DigestError {
            text: s.to_string(),
            reason,
        };
        if s.len() != 64 {
            return Err(bad(format!(
                "expected 64 hexadecimal digits, got {}",
                s.len()
            )));
        }
        let mut out = [0u8; 32];
        for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
            let hex =
                std::str::from_utf8(chunk).map_err(|_| bad("it is not hexadecimal".to_string()))?;
            out[i] = u8::from_str_radix(hex, 16)
                .map_err(|_| bad(format!("`{hex}` is not hexadecimal")))?;
        }
        Ok(Sha256Digest(out))
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({self})")
    }
}

/// One set listed in a MANIFEST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The archive's file name (`base.txz`).
    pub file: String,
    pub sha256: Sha256Digest,
    /// How many entries the archive holds (informational).
    pub files: u64,
    /// The set's name (`base`).
    pub set: String,
    pub description: String,
    /// Whether the installer selects it by default.
    pub default_on: bool,
}

/// A parsed MANIFEST, by set name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub sets: BTreeMap<String, ManifestEntry>,
}

/// A MANIFEST line that is not in the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("MANIFEST line {line}: {reason}")]
#[diagnostic(help(
    "a MANIFEST lists one set a line: file, sha256, count, set, description, on/off, separated by tabs; check that the source is a FreeBSD release directory"
))]
pub struct ManifestError {
    pub line: usize,
    pub reason: String,
    /// The digest field's error, when that is what is wrong.
    #[source]
    pub digest: Option<DigestError>,
}

impl Manifest {
    /// Parse MANIFEST text. Blank lines are skipped; any other malformed line is an error,
    /// because a checksum list we only half understand must not be trusted.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let mut sets = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |reason: String| ManifestError {
                line,
                reason,
                digest: None,
            };
            if raw.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = raw.split('\t').collect();
            if fields.len() != 6 {
                return Err(err(format!(
                    "expected 6 tab-separated fields (file, sha256, count, set, description, on/off), found {}",
                    fields.len()
                )));
            }
            let file = fields[0].to_string();
            if !file.ends_with(".txz") || file.contains('/') {
                return Err(err(format!("`{file}` is not a distribution set file name")));
            }
            let sha256 = Sha256Digest::parse_hex(fields[1]).map_err(|e| ManifestError {
                line,
                reason: e.to_string(),
                digest: Some(e),
            })?;
            let files = fields[2]
                .parse::<u64>()
                .map_err(|_| err(format!("file count `{}` is not a number", fields[2])))?;
            let set = fields[3].to_string();
            if set.is_empty() || file != format!("{set}.txz") {
                return Err(err(format!(
                    "set name `{set}` does not match file `{file}`"
                )));
            }
            let description = fields[4].trim_matches('"').to_string();
            let default_on = match fields[5].trim() {
                "on" => true,
                "off" => false,
                other => {
                    return Err(err(format!(
                        "last field must be `on` or `off`, not `{other}`"
                    )));
                }
            };
            if sets.contains_key(&set) {
                return Err(err(format!("set `{set}` is listed twice")));
            }
            sets.insert(
                set.clone(),
                ManifestEntry {
                    file,
                    sha256,
                    files,
                    set,
                    description,
                    default_on,
                },
            );
        }
        Ok(Manifest { sets })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "2b4a1f1cdcbd2b0f4e4aa31e6b6ef8cbd0b3a8f09e58c3a2f2a5b7b4c3d9e0f1";
    const B: &str = "9A8B7C6D5E4F30211203F4E5D6C7B8A99A8B7C6D5E4F30211203F4E5D6C7B8A9";

    #[test]
    fn parses_release_manifest_lines() {
        let text = format!(
            "base-dbg.txz\t{A}\t1234\tbase-dbg\t\"Base system (Debugging)\"\toff\n\
             base.txz\t{B}\t30218\tbase\t\"Base system (MANDATORY)\"\ton\n\n"
        );
        let m = Manifest::parse(&text).unwrap();
        assert_eq!(m.sets.len(), 2);
        let base = &m.sets["base"];
        assert_eq!(base.file, "base.txz");
        assert_eq!(base.files, 30218);
        assert_eq!(base.description, "Base system (MANDATORY)");
        assert!(base.default_on);
        assert_eq!(base.sha256.to_string(), B.to_ascii_lowercase());
        assert!(!m.sets["base-dbg"].default_on);
    }

    #[test]
    fn rejects_malformed_lines_with_line_numbers() {
        let bad_hex = format!("base.txz\t{}\t1\tbase\t\"x\"\ton\n", &A[..60]);
        let e = Manifest::parse(&bad_hex).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.reason.contains("64 hexadecimal digits"), "{e}");

        let few = format!("\nbase.txz\t{A}\t1\tbase\n");
        let e = Manifest::parse(&few).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("expected 6"), "{e}");

        let mismatch = format!("base.txz\t{A}\t1\tlib32\t\"x\"\ton\n");
        assert!(
            Manifest::parse(&mismatch)
                .unwrap_err()
                .reason
                .contains("does not match")
        );

        let slash = format!("../base.txz\t{A}\t1\tbase\t\"x\"\ton\n");
        assert!(Manifest::parse(&slash).is_err());

        let dup = format!("base.txz\t{A}\t1\tbase\t\"x\"\ton\nbase.txz\t{A}\t1\tbase\t\"x\"\ton\n");
        assert!(Manifest::parse(&dup).unwrap_err().reason.contains("twice"));

        let onoff = format!("base.txz\t{A}\t1\tbase\t\"x\"\tyes\n");
        assert!(Manifest::parse(&onoff).is_err());
    }

    #[test]
    fn digest_round_trips_and_rejects_non_hex() {
        let d = Sha256Digest::parse_hex(B).unwrap();
        assert_eq!(Sha256Digest::parse_hex(&d.to_string()).unwrap(), d);
        let z = "z".repeat(64);
        assert!(Sha256Digest::parse_hex(&z).is_err());
    }
}
