//! `entrex check-config` as an operator meets it: each problem named with
//! the file, line and column, the key, what is wrong and what to write.

use crate::support::{entrex, text};
use std::path::{Path, PathBuf};
use std::process::Output;

const REFERENCE: &str = include_str!("../../config/reference.toml");

/// A directory laid out as the repository is: `config/` beside `keys/`, with
/// every key file the reference names.
struct Layout {
    dir: tempfile::TempDir,
}

impl Layout {
    fn new() -> Layout {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        for name in ["ca", "us"] {
            let run = entrex(&["keygen", "--out", keys.to_str().unwrap(), "--name", name]);
            assert!(run.status.success(), "{}", text(&run));
        }
        // The reference shows a partner key being rotated out.
        std::fs::copy(keys.join("us.pub.pem"), keys.join("us.old.pub.pem")).unwrap();
        std::fs::create_dir(dir.path().join("config")).unwrap();
        // The reference names a removal-order list (docs/removal-orders.md).
        std::fs::create_dir(dir.path().join("data")).unwrap();
        std::fs::write(
            dir.path().join("data/removal-orders.csv"),
            "order_id,family_name,given_names,date_of_birth,document_country,document_number,issued_on\n\
             RO-2026-0001,IVANOV,PETR,1979-05-14,RUS,753123456,2026-03-01\n",
        )
        .unwrap();
        Layout { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config/hub.toml")
    }

    /// Runs `entrex check-config` on `config`.
    fn check(&self, config: &str) -> Output {
        std::fs::write(self.config(), config).unwrap();
        entrex(&["check-config", self.config().to_str().unwrap()])
    }

    /// Checks that `config` is refused with a message holding each of
    /// `expected`, and returns the message.
    fn refused(&self, config: &str, expected: &[&str]) -> String {
        let run = self.check(config);
        assert!(!run.status.success(), "{}", text(&run));
        let err = String::from_utf8_lossy(&run.stderr).into_owned();
        for e in expected {
            assert!(err.contains(e), "{e:?} not in:\n{err}");
        }
        err
    }
}

/// The reference with its first `from` replaced, and the 1-based line of it.
fn edit(from: &str, to: &str) -> (String, usize) {
    let at = REFERENCE
        .find(from)
        .unwrap_or_else(|| panic!("{from:?} not in the reference"));
    let line = REFERENCE[..at].matches('\n').count() + 1;
    (REFERENCE.replacen(from, to, 1), line)
}

#[test]
fn the_reference_config_passes_check_config() {
    let layout = Layout::new();
    let run = layout.check(REFERENCE);
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("ok (hub CA"),
        "{}",
        text(&run)
    );
}

#[test]
fn a_typo_in_a_key_gets_did_you_mean_at_its_line_and_column() {
    let layout = Layout::new();
    let (config, line) = edit("\nretry_max_ms = ", "\nretry_max_sm = ");
    let line = line + 1;
    layout.refused(
        &config,
        &[
            &format!("hub.toml:{line}:1: exchange.retry_max_sm"),
            "unknown key `retry_max_sm` in [exchange]",
            "did you mean `retry_max_ms`?",
            "retry_max_sm = 30000\n",
        ],
    );
    // A key put in the wrong table is told where it belongs.
    let (config, _) = edit("allow_unsigned = false", "");
    let config = config.replacen("id = \"CA\"", "id = \"CA\"\nallow_unsigned = true", 1);
    layout.refused(&config, &["hub.allow_unsigned", "belongs in [plugins]"]);
}

#[test]
fn a_value_of_the_wrong_type_names_line_and_column() {
    let layout = Layout::new();
    let (config, line) = edit("max_stack_kib = 512", "max_stack_kib = \"512k\"");
    layout.refused(
        &config,
        &[
            &format!("hub.toml:{line}:17: plugins.max_stack_kib"),
            "expected a whole number",
            "found string \"512k\"",
            "write it like this: max_stack_kib = 512",
        ],
    );
    let (config, line) = edit(
        "until = 2026-12-31T00:00:00Z",
        "until = \"2026-12-31T00:00:00Z\"",
    );
    layout.refused(
        &config,
        &[
            &format!("hub.toml:{line}:9: partner[0].previous_key[0].until"),
            "a date and time without quotes",
        ],
    );
}

#[test]
fn a_bad_value_names_the_key_and_what_to_write() {
    let layout = Layout::new();
    let (config, line) = edit("\"127.0.0.1:7401\"", "\"127.0.0.1:74011\"");
    layout.refused(
        &config,
        &[
            &format!("hub.toml:{line}:10: hub.listen"),
            "port 74011 is out of range",
            "write a port from 1 to 65535",
        ],
    );
    let (config, line) = edit("link_threshold = 0.8", "link_threshold = 1.5");
    layout.refused(
        &config,
        &[
            &format!("hub.toml:{line}:18: matching.link_threshold"),
            "write a number from 0 to 1",
        ],
    );
    let (config, _) = edit("review_threshold = 0.6", "review_threshold = 0.9");
    layout.refused(
        &config,
        &["matching.review_threshold", "above link_threshold"],
    );
    let (config, line) = edit("queue_alarm_percent = 80", "queue_alarm_percent = 0");
    layout.refused(
        &config,
        &[
            &format!("hub.toml:{line}:23: exchange.queue_alarm_percent"),
            "from 1 to 100",
        ],
    );
    // A plugin refusing its configuration: the plugin's own words, at its
    // config table.
    let (config, line) = edit("modes = [\"vehicle\"", "modes = [\"boat\"");
    layout.refused(
        &config,
        &[
            &format!("hub.toml:{line}:"),
            "plugins.eligibility.config",
            "\"boat\" is not a mode",
        ],
    );
}

#[test]
fn a_missing_file_is_named() {
    let layout = Layout::new();
    // The configuration file itself.
    let missing = layout.dir.path().join("config/absent.toml");
    let run = entrex(&["check-config", missing.to_str().unwrap()]);
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("cannot read the configuration file") && err.contains("absent.toml"),
        "{err}"
    );
    // A key file it names: the file, and the line and column naming it.
    let (config, line) = edit("\"../keys/ca.key.pem\"", "\"../keys/xx.key.pem\"");
    layout.refused(
        &config,
        &[
            &format!("hub.toml:{line}:15: hub.signing_key"),
            "xx.key.pem",
            "entrex keygen",
        ],
    );
    let (config, line) = edit("\"../keys/us.cert.pem\"", "\"../keys/mx.cert.pem\"");
    layout.refused(
        &config,
        &[
            &format!("hub.toml:{line}:12: partner[0].tls_cert"),
            "mx.cert.pem",
        ],
    );
    // A missing key: the table it belongs in, and an example.
    let (config, line) = edit("data_dir = \"../data/ca\"\n", "");
    let header = REFERENCE[..REFERENCE.find("[hub]").unwrap()]
        .matches('\n')
        .count()
        + 1;
    assert!(header < line);
    layout.refused(
        &config,
        &[
            &format!("hub.toml:{header}:1: hub.data_dir"),
            "missing: add `data_dir` to [hub], e.g. data_dir = \"../data/ca\"",
        ],
    );
}

#[test]
fn serve_refuses_a_bad_config_the_same_way() {
    let layout = Layout::new();
    let (config, line) = edit("\"../keys/ca.key.pem\"", "\"../keys/xx.key.pem\"");
    std::fs::write(layout.config(), config).unwrap();
    let run = entrex(&["serve", "--config", layout.config().to_str().unwrap()]);
    assert!(!run.status.success(), "{}", text(&run));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains(&format!("hub.toml:{line}:15: hub.signing_key")),
        "{err}"
    );
    assert!(!Path::new(&layout.dir.path().join("data/ca/store")).exists());
}

/// A partner hub is known only by its pinned certificate: a token carrying
/// the partner role would deliver bundles over no pinned certificate, so the
/// loader refuses it at its line, as it does for a client certificate.
#[test]
fn a_token_with_the_partner_role_is_refused_at_its_line() {
    let layout = Layout::new();
    let (config, line) = edit("roles = [\"source\"]", "roles = [\"source\", \"partner\"]");
    layout.refused(
        &config,
        &[
            &format!("hub.toml:{line}:9: access.token[0].roles"),
            "partner",
            "tls_cert pinned under its [[partner]]",
            "roles = [\"source\"]",
        ],
    );
    // The same refusal for a certificate, which the loader already made.
    let (config, line) = edit(
        "roles = [\"operator\", \"analyst\"]",
        "roles = [\"operator\", \"partner\"]",
    );
    layout.refused(
        &config,
        &[
            &format!("hub.toml:{line}:9: access.client_cert[0].roles"),
            "tls_cert pinned under its [[partner]]",
        ],
    );
}
