//! Configuration files decide what runs as root on the host, so when jailctl runs as root on
//! FreeBSD it refuses files that someone else could have written: each must be owned by root
//! and not writable by group or others. The decision is a pure function so it can be tested
//! anywhere.

use super::error::ConfigError;
use std::path::Path;

/// Whether the ownership check applies to this process: root on FreeBSD.
pub fn enforced() -> bool {
    cfg!(target_os = "freebsd") && nix::unistd::geteuid().is_root()
}

/// Judge a file's owner uid and mode bits. `Err` says what is wrong and how to fix it.
pub fn check_owner_mode(path: &Path, uid: u32, mode: u32) -> Result<(), (String, String)> {
    let p = path.display();
    if uid != 0 {
        return Err((
            format!(
                "owned by uid {uid}, not root; jailctl running as root only trusts files root owns"
            ),
            format!("chown root:wheel {p}"),
        ));
    }
    if mode & 0o022 != 0 {
        return Err((
            format!(
                "writable by {} (mode {:04o}); anyone who can write it can run commands as root",
                if mode & 0o002 != 0 {
                    "others"
                } else {
                    "its group"
                },
                mode & 0o7777
            ),
            format!("chmod go-w {p}"),
        ));
    }
    Ok(())
}

/// Stat `path` and apply [`check_owner_mode`].
pub fn check_path(path: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(path)
        .map_err(|e| ConfigError::file_level(path, format!("cannot stat: {e}"), None))?;
    check_owner_mode(path, md.uid(), md.mode())
        .map_err(|(msg, fix)| ConfigError::file_level(path, msg, Some(fix)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_owned_and_not_writable_by_others_passes() {
        assert!(check_owner_mode(Path::new("/x"), 0, 0o100644).is_ok());
        assert!(check_owner_mode(Path::new("/x"), 0, 0o100600).is_ok());
    }

    #[test]
    fn other_owner_is_refused() {
        let (msg, fix) = check_owner_mode(Path::new("/c/web.toml"), 1001, 0o644).unwrap_err();
        assert!(msg.contains("uid 1001"), "{msg}");
        assert_eq!(fix, "chown root:wheel /c/web.toml");
    }

    #[test]
    fn group_or_world_writable_is_refused() {
        let (msg, fix) = check_owner_mode(Path::new("/c/a.toml"), 0, 0o100666).unwrap_err();
        assert!(msg.contains("others") && msg.contains("0666"), "{msg}");
        assert_eq!(fix, "chmod go-w /c/a.toml");
        let (msg, _) = check_owner_mode(Path::new("/c/a.toml"), 0, 0o664).unwrap_err();
        assert!(msg.contains("group"), "{msg}");
    }
}
