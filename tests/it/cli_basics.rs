//! The binary starts, prints its help, man page and completion scripts.

use assert_cmd::Command;

#[test]
fn man_page_is_roff_for_section_8() {
    let out = Command::cargo_bin("jailctl")
        .unwrap()
        .arg("man")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(".TH jailctl 8"), "{text}");
}

#[test]
fn bash_completions_name_the_subcommands() {
    let out = Command::cargo_bin("jailctl")
        .unwrap()
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("complete -F _jailctl"), "{text}");
    assert!(text.contains("completions"));
}

#[test]
fn unknown_shell_is_rejected() {
    let out = Command::cargo_bin("jailctl")
        .unwrap()
        .args(["completions", "cmd.exe"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("invalid value 'cmd.exe'"), "{err}");
}
