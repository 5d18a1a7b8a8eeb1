//! Unit tests of the simulated zfs's parsing and formatting (sizes, dates, property names).

use super::props::{is_user_prop, parse_size};
use super::values::ctime;
use super::*;
use crate::SimState;

#[test]
fn sizes_parse_like_zfs() {
    assert_eq!(parse_size("100M"), Ok(100 << 20));
    assert_eq!(parse_size("1.5G"), Ok(3 << 29));
    assert_eq!(parse_size("512"), Ok(512));
    assert_eq!(parse_size("abc"), Err("bad numeric value 'abc'".into()));
    assert_eq!(parse_size("12Q"), Err("invalid numeric suffix 'Q'".into()));
}

#[test]
fn sizes_below_one_kib_carry_a_b_as_on_openzfs() {
    assert_eq!(nicebytes(0), "0B");
    assert_eq!(nicebytes(376), "376B");
    assert_eq!(nicebytes(1023), "1023B");
    assert_eq!(nicebytes(1024), "1K");
    assert_eq!(nicebytes(1_268_777), "1.21M");
}

#[test]
fn nicenum_matches_zfs_output() {
    assert_eq!(nicenum(0), "0");
    assert_eq!(nicenum(112 * 1024), "112K");
    assert_eq!(nicenum(1_268_777), "1.21M");
    assert_eq!(nicenum(94_687_478), "90.3M");
    assert_eq!(nicenum(1 << 40), "1T");
}

#[test]
fn ctime_is_zfs_creation_format() {
    // 2026-11-24 22:36 UTC was a Tuesday.
    assert_eq!(ctime(1_795_559_760), "Tue Nov 24 22:36 2026");
}

#[test]
fn mounted_filesystems_for_the_mount_table() {
    let mut s = SimState::default();
    init_fresh(&mut s);
    let mut child = s.zfs.datasets["zroot"].clone();
    child.props.clear();
    s.zfs.datasets.insert("zroot/a".into(), child.clone());
    child.props.insert("canmount".into(), "noauto".into());
    child.mounted = false;
    s.zfs.datasets.insert("zroot/b".into(), child);
    assert_eq!(
        *mounted_filesystems(&s.zfs),
        [
            ("zroot".to_string(), "/zroot".to_string()),
            ("zroot/a".to_string(), "/zroot/a".to_string())
        ]
    );
    // The list is kept per version of the datasets: a change is seen at once.
    s.zfs.datasets.get_mut("zroot/b").unwrap().mounted = true;
    s.zfs
        .datasets
        .get_mut("zroot/b")
        .unwrap()
        .props
        .remove("canmount");
    assert_eq!(mounted_filesystems(&s.zfs).len(), 3);
    s.zfs.datasets.remove("zroot/a");
    assert_eq!(
        *mounted_filesystems(&s.zfs),
        [
            ("zroot".to_string(), "/zroot".to_string()),
            ("zroot/b".to_string(), "/zroot/b".to_string())
        ]
    );
}

#[test]
fn user_property_names() {
    assert!(is_user_prop("jailctl:managed"));
    assert!(!is_user_prop("Foo:x"));
    assert!(!is_user_prop("nocolon"));
}
