//! Shell completions and manual pages come from the parser's own
//! definitions: bash completes with them, man renders them.

use crate::util;

use std::process::Command;

use crate::util::{BIN, run_bin, run_command};

/// What bash completes for the words typed so far.
fn complete(words: &[&str]) -> Vec<String> {
    let script = format!(
        r#"source <("{BIN}" completions bash)
function=$(complete -p mio-echo | sed -E 's/.*-F ([^ ]+).*/\1/')
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
"$function" mio-echo "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        words = words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut bash = Command::new("bash");
    bash.args(["-c", &script]);
    let output = run_command(bash, b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_subcommands_and_flags() {
    let subcommands = complete(&["mio-echo", "se"]);
    assert!(
        subcommands.contains(&"serve".to_string()) && subcommands.contains(&"send".to_string()),
        "{subcommands:?}"
    );
    let flags = complete(&["mio-echo", "serve", "--udp-"]);
    for flag in ["--udp-only", "--udp-rate", "--udp-max-sources"] {
        assert!(flags.contains(&flag.to_string()), "{flag} not in {flags:?}");
    }
    let shells = complete(&["mio-echo", "completions", ""]);
    assert!(shells.contains(&"zsh".to_string()), "{shells:?}");
}

#[test]
fn every_shell_gets_a_script() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = run_bin(&["completions", shell], b"");
        assert!(output.status.success(), "{shell}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("mio-echo"),
            "{shell}"
        );
    }
    assert_eq!(run_bin(&["completions", "tcsh"], b"").status.code(), Some(2));
}

#[test]
fn man_renders_the_program_and_each_subcommand() {
    let dir = util::tls::Scratch::new("man");
    for (page, expect) in [
        (None, "serve"),
        (Some("serve"), "--udp-rate"),
        (Some("bench"), "--max-loss"),
    ] {
        let mut args = vec!["man"];
        args.extend(page);
        let output = run_bin(&args, b"");
        assert!(output.status.success(), "{page:?}");
        let file = dir.path("page.1");
        std::fs::write(&file, &output.stdout).unwrap();
        let mut man = Command::new("man");
        man.arg("-l")
            .arg(&file)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100");
        let rendered = run_command(man, b"");
        let text = String::from_utf8_lossy(&rendered.stdout);
        assert!(
            rendered.status.success(),
            "{}",
            String::from_utf8_lossy(&rendered.stderr)
        );
        assert!(text.contains(expect), "{page:?}: {text}");
    }
    let output = run_bin(&["man", "nope"], b"");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid value 'nope'") && stderr.contains("bench-merge"),
        "{stderr}"
    );
}

/// Issue 19, item 18: every page carries the program's real version in its
/// footer, `bench merge` has a page, `man --install DIR` writes them all
/// where man(1) and the systemd units' `Documentation=` find them, and the
/// page names complete.
#[test]
fn man_pages_install_with_versions_and_complete_by_name() {
    let version = format!("\"mio-echo {}\"", env!("CARGO_PKG_VERSION"));
    for page in ["serve", "bench-merge"] {
        let output = run_bin(&["man", page], b"");
        let roff = String::from_utf8_lossy(&output.stdout);
        let title = roff
            .lines()
            .find(|line| line.starts_with(".TH"))
            .unwrap_or_default();
        assert!(
            title.contains(&format!("mio-echo-{page} 1")) && title.contains(&version),
            "{title}"
        );
    }
    let dir = util::tls::Scratch::new("man-install");
    let output = run_bin(&["man", "--install", dir.0.to_str().unwrap()], b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut installed: Vec<String> = std::fs::read_dir(dir.path("man1"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    installed.sort();
    assert_eq!(installed.len(), 8, "{installed:?}");
    // Every unit's Documentation= names an installed page, which man finds.
    let root = env!("CARGO_MANIFEST_DIR");
    for unit in ["mio-echo.service", "mio-echo-standalone.service"] {
        let text = std::fs::read_to_string(format!("{root}/deploy/systemd/{unit}")).unwrap();
        for page in text
            .lines()
            .filter_map(|line| line.strip_prefix("Documentation=man:"))
            .flat_map(str::split_whitespace)
        {
            let name = page.trim_end_matches("(1)").trim_start_matches("man:");
            assert!(
                installed.contains(&format!("{name}.1")),
                "{unit}: {page} not in {installed:?}"
            );
            let mut man = Command::new("man");
            man.args(["-M", dir.0.to_str().unwrap(), name])
                .env("MANPAGER", "cat");
            let rendered = run_command(man, b"");
            assert!(
                rendered.status.success(),
                "{unit}: man {name}: {}",
                String::from_utf8_lossy(&rendered.stderr)
            );
        }
    }
    let names = complete(&["mio-echo", "man", ""]);
    for page in ["serve", "bench-merge", "chat"] {
        assert!(names.contains(&page.to_string()), "{page} not in {names:?}");
    }
}
