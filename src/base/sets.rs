//! The distribution sets a base is filled from: which are asked for, their names checked,
//! and each fetched and verified against its SHA-256 before anything is extracted.

use super::*;

fn validate_set_name(set: &str) -> Result<(), BaseError> {
    let ok = !set.is_empty()
        && set
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && set
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(BaseError::BadSet {
            set: set.to_string(),
        })
    }
}

/// What `create` and `update` need.
#[derive(Clone, Debug)]
pub struct SetsRequest {
    pub name: String,
    pub source: Source,
    /// Set names (`base`, `lib32`), in extraction order.
    pub sets: Vec<String>,
    /// Digests the user pinned, by set name; they take precedence over MANIFEST.
    pub sha256: BTreeMap<String, Sha256Digest>,
    /// A local directory for downloads (already mapped with `HostFs::local_path`).
    pub cache_dir: PathBuf,
    /// Show download progress on a terminal.
    pub progress: bool,
    pub extract: ExtractOptions,
}

/// A set that is available locally and verified.
#[derive(Clone, Debug)]
pub struct VerifiedSet {
    pub set: String,
    pub path: PathBuf,
    pub sha256: Sha256Digest,
    /// `--sha256` or the MANIFEST's location.
    pub checked_against: String,
}

/// Fetch every requested set and check its digest. Touches nothing but the download cache.
pub fn prepare_sets(req: &SetsRequest) -> Result<Vec<VerifiedSet>, BaseError> {
    for s in &req.sets {
        validate_set_name(s)?;
    }
    if let Some(stray) = req.sha256.keys().find(|k| !req.sets.contains(k)) {
        return Err(BaseError::StrayChecksum {
            set: stray.clone(),
            sets: req.sets.join(","),
        });
    }
    let manifest_location = match &req.source {
        Source::Dir(d) => d.join("MANIFEST").display().to_string(),
        Source::Url(u) => format!("{u}MANIFEST"),
    };
    let manifest = fetch::fetch_manifest(&req.source)?;
    let mut out = Vec::new();
    for set in &req.sets {
        let (expected, from) = if let Some(d) = req.sha256.get(set) {
            (*d, "--sha256".to_string())
        } else {
            match &manifest {
                Some(m) => match m.sets.get(set) {
                    Some(e) => (e.sha256, manifest_location.clone()),
                    None => {
                        return Err(BaseError::NoChecksum {
                            set: set.clone(),
                            why: format!(
                                "{manifest_location} does not list it (it lists: {})",
                                m.sets.keys().cloned().collect::<Vec<_>>().join(", ")
                            ),
                        });
                    }
                },
                None => {
                    return Err(BaseError::NoChecksum {
                        set: set.clone(),
                        why: format!("there is no MANIFEST at {manifest_location}"),
                    });
                }
            }
        };
        let file = format!("{set}.txz");
        let is_url = matches!(req.source, Source::Url(_));
        let cached_before = is_url
            && req
                .cache_dir
                .join(fetch::cache_key(&req.source.display()))
                .join(&file)
                .is_file();
        let mut path = fetch::fetch_set(&req.source, &file, &req.cache_dir, req.progress)?;
        match fetch::verify(set, &path, expected, &from, is_url) {
            Ok(()) => {}
            Err(FetchError::Mismatch { .. }) if cached_before => {
                // A stale file in the cache (the release was re-rolled): fetch it once more.
                tracing::warn!(
                    set,
                    "cached {file} does not match its checksum; downloading it again"
                );
                path = fetch::fetch_set(&req.source, &file, &req.cache_dir, req.progress)?;
                fetch::verify(set, &path, expected, &from, is_url)?;
            }
            Err(e) => return Err(e.into()),
        }
        out.push(VerifiedSet {
            set: set.clone(),
            path,
            sha256: expected,
            checked_against: from,
        });
    }
    Ok(out)
}
