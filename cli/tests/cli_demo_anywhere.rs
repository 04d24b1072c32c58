//! An installed `custody demo` works anywhere: the built binary, copied into an empty temporary
//! folder and run there with a clean environment, finds its samples built in (no source tree
//! beside it), writes them out byte for byte, and runs the whole job; `--samples DIR` still
//! overrides them, and a folder without an export is refused with the flag named.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use custody_tests::workspace_root;

/// The binary copied into `dir`, as `cargo install` would put it somewhere.
fn installed_copy(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let copy = bin.join("custody");
    std::fs::copy(env!("CARGO_BIN_EXE_custody"), &copy).unwrap();
    copy
}

/// `custody ARGS` run in `cwd` with only PATH set.
///
/// A copy just written can be briefly "busy" (ETXTBSY): a process the other test forks at that
/// moment holds the copy's write descriptor until it execs. The run is tried again then, as cargo
/// does for the binaries it builds.
fn run_in(binary: &Path, cwd: &Path, args: &[&str]) -> Output {
    let mut busy = 0;
    loop {
        let run = Command::new(binary)
            .args(args)
            .current_dir(cwd)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .output();
        match run {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && busy < 100 => {
                busy += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            run => return run.expect("custody runs"),
        }
    }
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every file under `root`, by relative path, with its bytes.
fn files_under(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let key = path.strip_prefix(root).unwrap().display().to_string();
                out.push((key, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn an_installed_demo_runs_from_an_empty_folder_on_its_built_in_samples() {
    let home = tempfile::tempdir().unwrap();
    let binary = installed_copy(home.path());
    let cwd = home.path().join("elsewhere");
    std::fs::create_dir_all(&cwd).unwrap();

    let output = run_in(&binary, &cwd, &["demo"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("INTACT"), "{text}");
    assert!(text.contains("offline check: VALID"), "{text}");

    // The default work folder is relative to where it runs; the samples written there are the
    // source tree's, byte for byte.
    let work = cwd.join("target/custody-demo");
    let written = files_under(&work.join("samples"));
    let source = files_under(&workspace_root().join("samples"));
    assert_eq!(
        written.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        source.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    assert!(written == source, "a built-in sample differs from samples/");
    assert!(work.join("ledger").is_dir());
    assert!(work.join("receipt.json").is_file());
}

#[test]
fn samples_dir_overrides_the_built_in_samples_and_a_wrong_one_is_named() {
    let home = tempfile::tempdir().unwrap();
    let binary = installed_copy(home.path());
    let samples = workspace_root().join("samples");
    let work = home.path().join("demo");
    let output = run_in(
        &binary,
        home.path(),
        &[
            "demo",
            "--workdir",
            &work.display().to_string(),
            "--samples",
            &samples.display().to_string(),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains(&samples.display().to_string()), "{text}");
    assert!(!work.join("samples").exists(), "nothing written out");

    let empty = home.path().join("no-samples");
    std::fs::create_dir_all(&empty).unwrap();
    let output = run_in(
        &binary,
        home.path(),
        &[
            "demo",
            "--workdir",
            &work.display().to_string(),
            "--samples",
            &empty.display().to_string(),
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains("--samples") && error.contains("export"),
        "{error}"
    );
}
