//! Tells `tend --version` what it was built from: the git commit and the target triple.
//!
//! The commit comes, in this order, from `BUILD_TEND_COMMIT` (for builds from a source tarball
//! that know their commit), from `.cargo_vcs_info.json` (written by `cargo package`, so a
//! crate built from crates.io names the commit it was packaged from), from `git rev-parse`,
//! and is `unknown` otherwise. Only the commit and the triple go in: no date, no path, no
//! host name, so two builds of one commit stay byte-identical.
//!
//! The variables are not named `TEND_*`: cargo also sets `rustc-env` variables when it runs
//! the tests, and tend reads every `TEND_*` variable as configuration (an unknown one is a
//! configuration error).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    println!("cargo:rerun-if-env-changed=BUILD_TEND_COMMIT");
    println!("cargo:rerun-if-changed=build.rs");
    let commit = from_env()
        .or_else(|| from_vcs_info(&dir))
        .or_else(|| from_git(&dir))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=BUILD_TEND_COMMIT={commit}");
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_owned());
    println!("cargo:rustc-env=BUILD_TEND_TARGET={target}");
}

/// A full hexadecimal object name (SHA-1 or SHA-256), nothing else.
fn valid(commit: &str) -> Option<String> {
    let ok = matches!(commit.len(), 40 | 64) && commit.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| commit.to_ascii_lowercase())
}

fn from_env() -> Option<String> {
    valid(std::env::var("BUILD_TEND_COMMIT").ok()?.trim())
}

/// `"sha1": "…"` in the file `cargo package` adds to the crate.
fn from_vcs_info(dir: &Path) -> Option<String> {
    let path = dir.join(".cargo_vcs_info.json");
    let text = std::fs::read_to_string(&path).ok()?;
    watch(&path);
    let rest = &text[text.find("\"sha1\"")? + 6..];
    let start = rest.find('"')? + 1;
    let end = start + rest[start..].find('"')?;
    valid(&rest[start..end])
}

fn from_git(dir: &Path) -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()?;
        out.status.success().then_some(())?;
        Some(String::from_utf8(out.stdout).ok()?.trim().to_owned())
    };
    // Rebuild when HEAD moves: HEAD itself and its reflog (a checkout, a commit), the branch
    // it names and packed-refs (a branch packed by `git gc`). Worktrees keep HEAD apart.
    let paths = git(&[
        "rev-parse",
        "--path-format=absolute",
        "--git-path",
        "HEAD",
        "--git-path",
        "logs/HEAD",
        "--git-common-dir",
    ])?;
    let mut paths = paths.lines();
    let (head, log, common) = (paths.next()?, paths.next()?, paths.next()?);
    watch(Path::new(head));
    watch(Path::new(log));
    watch(&Path::new(common).join("packed-refs"));
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(&Path::new(common).join(branch));
    }
    valid(&git(&["rev-parse", "--verify", "-q", "HEAD^{commit}"])?)
}

/// Reruns this script when `path` changes. Only for files that exist: cargo reruns a build
/// script at every build while a watched file is missing, and then rebuilds tend too.
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
