//! Parser for `mount -p`: the mount table in fstab(5) layout (fields separated by tabs or
//! spaces: source, mount point, type, options, dump, pass).

use super::{MountEntry, ParseError};

pub fn parse_mount_p(stdout: &str) -> Result<Vec<MountEntry>, ParseError> {
    let mut out = vec![];
    for (i, line) in stdout.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f.len() < 4 {
            return Err(ParseError::new(
                "mount -p",
                i + 1,
                format!("expected at least 4 fields in {line:?}"),
            ));
        }
        out.push(MountEntry {
            source: f[0].to_string(),
            target: f[1].to_string(),
            fstype: f[2].to_string(),
            options: f[3].to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let s = "zroot/ROOT/default\t/\tzfs\trw,noatime\t0 0\ndevfs\t\t\t/dev\t\t\tdevfs\trw\t\t0 0\n/jails/base/14.2\t/jails/web/base\tnullfs\tro\t\t0 0\n";
        let v = parse_mount_p(s).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[2].fstype, "nullfs");
        assert_eq!(v[2].options, "ro");
        assert_eq!(v[1].target, "/dev");
        assert_eq!(parse_mount_p("devfs /dev\n").unwrap_err().line, 1);
    }
}
