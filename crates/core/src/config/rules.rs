//! The value rules that decide what may reach FreeBSD at all, shared by the validator and the
//! renderer so `validate` refuses exactly what `up`, `boot` and `render` would refuse.
//!
//! Each rule is a pure function returning the message and the fix. They cover what jail(8)
//! or mount(8) cannot carry (whitespace and backslashes in mount paths, NUL bytes anywhere,
//! all-digit jail names), what would be read as an option (a leading `-`), and what would
//! escape the place it belongs to (template names with path separators, `..` in global paths).

use super::units::ValueError;
/// The bytes jail(8) splits a `mount` line on: `run_command()` in usr.sbin/jail/command.c
/// (case `IP_MOUNT`) cuts the value with `strtok(comcs, " \t\f\v\r\n")` and hands the fields
/// to mount(8). FreeBSD 13.x and 14.x never decode anything in those fields, so a path
/// holding one of these bytes cannot be expressed; newer trees run `strunvis(3)` over the
/// source and mount point, so there a backslash starts an escape. A backslash is therefore
/// refused too: it would mean one thing on 14.x and another on later releases.
pub const MOUNT_FIELD_SEPARATORS: [char; 6] = [' ', '\t', '\n', '\u{0b}', '\u{0c}', '\r'];

/// How a character is named in messages: printable ones quoted, the others by escape.
pub fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\t' => "a tab (\\t)".into(),
        '\n' => "a newline (\\n)".into(),
        '\u{0b}' => "a vertical tab (\\u000B)".into(),
        '\u{0c}' => "a form feed (\\u000C)".into(),
        '\r' => "a carriage return (\\r)".into(),
        '\\' => "a backslash".into(),
        '\0' => "a NUL byte (\\u0000)".into(),
        c => format!("'{c}'"),
    }
}

/// A path that becomes a field of a jail.conf `mount` line (nullfs source, mount point, or
/// mount_root, which prefixes every mount point). `what` names it in the message.
pub fn check_mount_path(what: &str, path: &str) -> Result<(), (String, String)> {
    if let Some(c) = path
        .chars()
        .find(|c| MOUNT_FIELD_SEPARATORS.contains(c) || *c == '\\' || *c == '\0')
    {
        let why = if c == '\\' {
            "jail(8) of FreeBSD 13.x/14.x passes it to mount(8) as is, while newer releases decode it as an escape"
        } else if c == '\0' {
            "jail(8) cuts the value there"
        } else {
            "jail(8) splits mount lines on whitespace and has no way to escape it"
        };
        return Err((
            format!("{what} \"{}\" contains {}: {why}", path.escape_debug(), describe_char(c)),
            "use a path without whitespace or backslashes (rename the directory, or mount a parent or a symlink-free alias without them)".into(),
        ));
    }
    Ok(())
}

/// No NUL byte: jail(8), mount(8), sh(1) and every C tool take it as the end of the string,
/// so the rest of the value would silently be dropped.
pub fn check_no_nul(what: &str, s: &str) -> Result<(), (String, String)> {
    match s.find('\0') {
        Some(at) => Err((
            format!(
                "{what} contains a NUL byte (\\u0000) at character {}: FreeBSD's tools end the string there and would drop the rest",
                s[..at].chars().count() + 1
            ),
            "remove the \\u0000 from the value".into(),
        )),
        None => Ok(()),
    }
}

/// A word placed on a command line where an option could stand (package names, argv[0] of a
/// health check, a file owner): a leading `-` would be taken as an option.
pub fn check_not_option(what: &str, s: &str) -> Result<(), (String, String)> {
    if s.starts_with('-') {
        return Err((
            format!(
                "{what} \"{s}\" begins with '-', so the command it is passed to would read it as an option"
            ),
            format!("remove the leading '-' (a {what} never begins with one)"),
        ));
    }
    Ok(())
}

/// A template name: a file name in the template directories, nothing that walks out of them.
pub fn check_template_name(s: &str) -> Result<(), (String, String)> {
    let ok = !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && s.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err((
            format!(
                "extends = \"{}\" is not a template name: a template is <config_dir>/templates/NAME.toml or a shipped one, named with letters, digits, '_', '-' and '.', starting with a letter or digit",
                s.escape_debug()
            ),
            "write the template's name without a path or .toml, e.g. extends = \"nginx\"".into(),
        ))
    }
}

/// A jail name jail(8) accepts as a name: letters, digits, `_` and `-`, starting with a letter
/// or digit, at most 64 characters, and not all digits (jail(8) takes a number as a jid).
pub fn check_jail_name(s: &str) -> Result<(), ValueError> {
    super::units::check_plain_name(s, "jail name")?;
    if s.chars().all(|c| c.is_ascii_digit()) {
        return Err(ValueError(format!(
            "\"{s}\" is not a valid jail name: jail(8) takes an all-digit name as a jail id (jid)"
        )));
    }
    Ok(())
}

/// `zfs_root`: `pool/dataset[/...]`, a pool name starting with a letter and components that
/// are ZFS names (letters, digits, `_`, `-`, `.`, `:`), none of them `.` or `..`.
pub fn check_zfs_root(s: &str) -> Result<(), ValueError> {
    let parts: Vec<&str> = s.split('/').collect();
    let comp_ok = |c: &&str| {
        !c.is_empty()
            && *c != "."
            && *c != ".."
            && c.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.' | ':'))
    };
    let ok = parts.len() >= 2
        && parts.iter().all(comp_ok)
        && parts[0].starts_with(|c: char| c.is_ascii_alphabetic());
    if ok {
        Ok(())
    } else {
        Err(ValueError(format!(
            "zfs_root \"{}\" is not of the form pool/dataset[/...]: a pool name starting with a letter, then dataset names of letters, digits, '_', '-', '.' and ':' (no empty, \".\" or \"..\" components)",
            s.escape_debug()
        )))
    }
}

/// `mount_root`: absolute, not `/` itself, no `.` or `..` components (a jail's root is
/// `<mount_root>/<name>` and must stay under it), and usable as a mount line field.
pub fn check_mount_root(s: &str) -> Result<(), (String, String)> {
    if !s.starts_with('/') {
        return Err((
            format!(
                "mount_root \"{}\" is not an absolute path",
                s.escape_debug()
            ),
            "write it from the root, e.g. \"/usr/local/jails\"".into(),
        ));
    }
    if s.split('/').any(|c| c == ".." || c == ".") {
        return Err((
            format!(
                "mount_root \"{}\" has a \".\" or \"..\" component, so jail roots would not be where it says",
                s.escape_debug()
            ),
            "write the directory's plain path, e.g. \"/usr/local/jails\"".into(),
        ));
    }
    if s.split('/').all(str::is_empty) {
        return Err((
            "mount_root \"/\" would make every jail root a directory of the host's root (/NAME) and mount jail file systems there".into(),
            "use a directory of its own, e.g. \"/usr/local/jails\"".into(),
        ));
    }
    check_mount_path("mount_root", s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_refuse_every_separator_backslash_and_nul_and_keep_the_rest() {
        for c in MOUNT_FIELD_SEPARATORS.iter().chain(['\\', '\0'].iter()) {
            let p = format!("/srv/a{c}b");
            assert!(check_mount_path("mount source", &p).is_err(), "{p:?}");
        }
        for p in ["/srv/a\u{a0}b", "/srv/é", "/srv/a\u{1}b", "/srv/a$b\"c"] {
            assert!(check_mount_path("mount source", p).is_ok(), "{p:?}");
        }
    }

    #[test]
    fn names_and_roots() {
        assert!(check_jail_name("1").is_err());
        assert!(check_jail_name("1a").is_ok());
        assert!(check_template_name("../../tmp/evil").is_err());
        assert!(check_template_name(".hidden").is_err());
        assert!(check_template_name("nginx").is_ok());
        assert!(check_zfs_root("zroot/../x").is_err());
        assert!(check_zfs_root("zroot").is_err());
        assert!(check_zfs_root("-o/x").is_err());
        assert!(check_zfs_root("zroot/jailctl").is_ok());
        assert!(check_mount_root("/").is_err());
        assert!(check_mount_root("//").is_err());
        assert!(check_mount_root("/usr/local/jails/../../etc").is_err());
        assert!(check_mount_root("/usr/local/jails").is_ok());
        assert!(check_not_option("package", "-f").is_err());
        assert!(
            check_no_nul("x", "a\0b")
                .unwrap_err()
                .0
                .contains("character 2")
        );
    }
}
