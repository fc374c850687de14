//! The repository's test command (`tests/run.sh`) as a new user meets it on a
//! fresh machine: it must install what the tests need, Chromium included.
//! The script runs in a copy of the repository's layout against stand-ins
//! for the tools it calls, which record their calls: nothing is installed and
//! no test suite runs.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::text;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

struct Sandbox {
    dir: tempfile::TempDir,
}

/// How the machine looks to the script.
struct Machine {
    uid: u32,
    sudo: bool,
    apt_fails: bool,
    chromium: bool,
}

const FRESH_ROOT: Machine = Machine {
    uid: 0,
    sudo: false,
    apt_fails: false,
    chromium: false,
};

fn real(tool: &str) -> PathBuf {
    ["/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no {tool} on this machine"))
}

fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/bash\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

impl Sandbox {
    fn new(machine: &Machine) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let bin = dir.path().join("bin");
        for d in ["tests", "plugins/python-normaliser", "bin"] {
            std::fs::create_dir_all(repo.join(d)).unwrap();
        }
        std::fs::create_dir_all(&bin).unwrap();
        for file in ["tests/run.sh", "tests/duckdb-requirements.txt"] {
            std::fs::copy(Path::new(ROOT).join(file), repo.join(file)).unwrap();
        }
        let calls = dir.path().join("calls");
        // Each stand-in appends "NAME ARGS" to `calls`.
        let record = format!("echo \"${{0##*/}} $*\" >> {}", calls.display());
        script(
            &repo.join("plugins/python-normaliser/build.sh"),
            &format!("{record}\nexit 0"),
        );
        script(
            &bin.join("rustup"),
            &format!(
                "{record}\n[ \"$*\" = 'target list --installed' ] && echo wasm32-wasip2\nexit 0"
            ),
        );
        script(&bin.join("cargo"), &format!("{record}\nexit 0"));
        // `python3 -m venv DIR` makes DIR/bin/pip, a stand-in that records
        // its calls too.
        script(
            &bin.join("python3"),
            &format!(
                "{record}\n[ \"$1\" = -m ] && {mkdir} -p \"$3/bin\" && printf '#!/bin/bash\\n%s\\n' '{record}' > \"$3/bin/pip\" && {chmod} +x \"$3/bin/pip\"\nexit 0",
                mkdir = real("mkdir").display(),
                chmod = real("chmod").display(),
            ),
        );
        script(
            &bin.join("id"),
            &format!("[ \"$1\" = -u ] && echo {} && exit 0\nexit 1", machine.uid),
        );
        let chromium = dir.path().join("chromium");
        script(
            &bin.join("apt-get"),
            &format!(
                "echo \"apt-get DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*\" >> {calls}\n{fail}\n[ \"$1\" = install ] && printf '#!/bin/sh\\n' > {chromium} && {chmod} +x {chromium}\nexit 0",
                calls = calls.display(),
                fail = if machine.apt_fails { "exit 100" } else { "" },
                chromium = chromium.display(),
                chmod = real("chmod").display(),
            ),
        );
        if machine.sudo {
            script(&bin.join("sudo"), &format!("{record}\nexec \"$@\""));
        }
        if machine.chromium {
            script(&chromium, "exit 0");
        }
        for tool in ["dirname", "grep", "env"] {
            std::os::unix::fs::symlink(real(tool), bin.join(tool)).unwrap();
        }
        Sandbox { dir }
    }

    fn run(&self) -> (Output, Vec<String>) {
        let output = std::process::Command::new(real("bash"))
            .arg(self.dir.path().join("repo/tests/run.sh"))
            .env_clear()
            .env("PATH", self.dir.path().join("bin"))
            .env("HOME", self.dir.path())
            .env("ENTREX_CHROMIUM", self.dir.path().join("chromium"))
            .output()
            .unwrap();
        let calls = std::fs::read_to_string(self.dir.path().join("calls")).unwrap_or_default();
        (output, calls.lines().map(str::to_owned).collect())
    }
}

/// Where `wanted` is among `calls`, or a panic naming all of them.
fn position(calls: &[String], wanted: &str, output: &Output) -> usize {
    calls
        .iter()
        .position(|c| c == wanted)
        .unwrap_or_else(|| panic!("no call {wanted:?} in {calls:#?}\n{}", text(output)))
}

#[test]
fn tests_run_sh_installs_chromium_on_a_fresh_machine_before_the_tests() {
    // As root (CI, a container): apt-get, non-interactive, before any test.
    let (output, calls) = Sandbox::new(&FRESH_ROOT).run();
    assert!(output.status.success(), "{}", text(&output));
    let install = position(
        &calls,
        "apt-get DEBIAN_FRONTEND=noninteractive install -y --no-install-recommends chromium",
        &output,
    );
    let update = position(
        &calls,
        "apt-get DEBIAN_FRONTEND=noninteractive update",
        &output,
    );
    let tests = position(&calls, "cargo test --workspace", &output);
    assert!(update < install && install < tests, "{calls:#?}");

    // A user with sudo: through sudo.
    let (output, calls) = Sandbox::new(&Machine {
        uid: 1000,
        sudo: true,
        ..FRESH_ROOT
    })
    .run();
    assert!(output.status.success(), "{}", text(&output));
    position(
        &calls,
        "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium",
        &output,
    );

    // Already there: nothing installed.
    let (output, calls) = Sandbox::new(&Machine {
        chromium: true,
        ..FRESH_ROOT
    })
    .run();
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        !calls.iter().any(|c| c.starts_with("apt-get")),
        "{calls:#?}"
    );
}

#[test]
fn tests_run_sh_says_what_to_install_when_it_cannot_install_chromium() {
    for machine in [
        // Neither root nor sudo.
        Machine {
            uid: 1000,
            ..FRESH_ROOT
        },
        // apt-get fails (no network, another apt running...).
        Machine {
            apt_fails: true,
            ..FRESH_ROOT
        },
    ] {
        let (output, calls) = Sandbox::new(&machine).run();
        assert!(!output.status.success(), "{}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("install the Debian package chromium")
                && stderr.contains("apt-get install -y chromium"),
            "{}",
            text(&output)
        );
        assert!(
            !calls.iter().any(|c| c.starts_with("cargo test")),
            "{calls:#?}"
        );
    }
}

#[test]
fn tests_run_sh_installs_duckdb_for_the_ledger_test_before_the_tests() {
    let (output, calls) = Sandbox::new(&Machine {
        chromium: true,
        ..FRESH_ROOT
    })
    .run();
    assert!(output.status.success(), "{}", text(&output));
    let pinned = std::fs::read_to_string(Path::new(ROOT).join("tests/duckdb-requirements.txt"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("duckdb=="))
        .unwrap()
        .to_owned();
    let venv = calls
        .iter()
        .position(|c| c.starts_with("python3 -m venv ") && c.ends_with("target/duckdb-venv"))
        .unwrap_or_else(|| panic!("no venv made for DuckDB in {calls:#?}"));
    let install = calls
        .iter()
        .position(|c| {
            c.starts_with("pip install") && c.ends_with("-r tests/duckdb-requirements.txt")
        })
        .unwrap_or_else(|| panic!("no pip install of {pinned} in {calls:#?}"));
    let tests = position(&calls, "cargo test --workspace", &output);
    assert!(venv < install && install < tests, "{calls:#?}");
}

/// CI runs the README's command, and does not install Chromium itself.
#[test]
fn ci_runs_tests_run_sh_and_installs_nothing_twice() {
    let ci = std::fs::read_to_string(Path::new(ROOT).join(".ci/run")).unwrap();
    assert!(ci.lines().any(|l| l.trim() == "tests/run.sh"), "{ci}");
    assert!(!ci.contains("chromium"), "{ci}");
}
