//! Hub configuration: a TOML file parsed with unknown keys refused, then
//! validated into [`Settings`], which the rest of the code trusts.
//!
//! Relative paths in the file are relative to the file's own directory, so a
//! config directory can be moved as a whole.
//!
//! Every problem is reported with the file, line and column, the key, what is
//! wrong and what to write instead ([`diagnostic`]); `config/reference.toml`
//! documents every key and is where the examples in messages come from.

pub mod diagnostic;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use diagnostic::Origin;
pub use diagnostic::{Located, Location, Problem};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot read the configuration file {path}: {source}; give the path of the hub's TOML file (config/reference.toml documents every key)"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A problem at a place in the file.
    #[error("{0}")]
    At(Box<Located>),
}

impl ConfigError {
    /// The problem and where it is, unless the file could not be read at all.
    pub fn located(&self) -> Option<&Located> {
        match self {
            ConfigError::At(located) => Some(located),
            ConfigError::Read { .. } => None,
        }
    }
}

impl From<Located> for ConfigError {
    fn from(located: Located) -> Self {
        ConfigError::At(Box::new(located))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    hub: RawHub,
    plugins: RawPlugins,
    #[serde(default)]
    exchange: RawExchange,
    #[serde(default)]
    matching: RawMatching,
    #[serde(default, rename = "partner")]
    partners: Vec<RawPartner>,
    #[serde(default)]
    access: RawAccess,
    #[serde(default)]
    retention: RawRetention,
    #[serde(default)]
    removal_orders: Option<RawRemovalOrders>,
}

/// The hub's own list of persons under a removal or departure order (CSV,
/// kept here, never shared; columns in `docs/removal-orders.md`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemovalOrders {
    file: PathBuf,
}

/// How long personal data is kept, in days (see `retention`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRetention {
    raw_days: u32,
    crossings_days: u32,
    received_days: u32,
    purge_every_hours: u32,
}

impl Default for RawRetention {
    fn default() -> Self {
        RawRetention {
            raw_days: 90,
            crossings_days: 5 * 366,
            received_days: 5 * 366,
            purge_every_hours: 24,
        }
    }
}

/// How long personal data is kept.
#[derive(Clone, Copy, Debug)]
pub struct RetentionSettings {
    /// The source systems' raw input (kept for re-processing and disputes).
    pub raw_days: u32,
    /// Crossings and the records shared from them (the residency and
    /// citizenship calculators look back five years).
    pub crossings_days: u32,
    /// Partners' records (our exits).
    pub received_days: u32,
    pub purge_every_hours: u32,
}

/// Who may call the hub's HTTP API (see `auth`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccess {
    /// Development only: requests without a credential get every role.
    #[serde(default)]
    allow_anonymous: bool,
    #[serde(default)]
    token: Vec<RawToken>,
    #[serde(default)]
    client_cert: Vec<RawClientCert>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: String,
    roles: Vec<crate::auth::Role>,
    /// SHA-256 of the token, hex (`entrex token` prints it); never the token.
    sha256: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClientCert {
    name: String,
    roles: Vec<crate::auth::Role>,
    cert: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHub {
    id: String,
    listen: String,
    data_dir: PathBuf,
    signing_key: PathBuf,
    #[serde(default = "default_max_batch_bytes")]
    max_batch_bytes: usize,
    /// This hub's TLS certificate and key (PEM): served, and presented to partners.
    #[serde(default)]
    tls_cert: Option<PathBuf>,
    #[serde(default)]
    tls_key: Option<PathBuf>,
    /// Allow hub-to-hub traffic without TLS (local development only).
    #[serde(default)]
    allow_plain_http: bool,
}

fn default_max_batch_bytes() -> usize {
    32 << 20
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugins {
    /// Public keys (PEM) whose plugin signatures this hub accepts.
    #[serde(default)]
    trusted_keys: Vec<PathBuf>,
    /// Load plugins without a trusted signature (development only).
    #[serde(default)]
    allow_unsigned: bool,
    /// WebAssembly stack per plugin call, KiB (one engine serves all plugins).
    #[serde(default)]
    max_stack_kib: Option<u64>,
    normaliser: RawPlugin,
    eligibility: RawPlugin,
    matcher: RawPlugin,
    transport: RawPlugin,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    component: String,
    #[serde(default)]
    config: Option<toml::Table>,
    /// Keys of the configuration whose value is a JSON file, read by the
    /// hub when the plugin is loaded (a trained matcher model, for one):
    /// the plugin itself reads no files.
    #[serde(default)]
    config_files: Option<toml::Table>,
    #[serde(default)]
    deadline_ms: Option<u64>,
    #[serde(default)]
    memory_mib: Option<u64>,
    #[serde(default)]
    max_output_kib: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawExchange {
    bundle_max_records: usize,
    bundle_linger_ms: u64,
    retry_min_ms: u64,
    retry_max_ms: u64,
    max_queue_records: u64,
    queue_alarm_percent: u64,
}

impl Default for RawExchange {
    fn default() -> Self {
        RawExchange {
            bundle_max_records: 2000,
            bundle_linger_ms: 200,
            retry_min_ms: 200,
            retry_max_ms: 30_000,
            max_queue_records: 10_000_000,
            queue_alarm_percent: 80,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawMatching {
    link_threshold: f64,
    review_threshold: f64,
    max_candidates: usize,
}

impl Default for RawMatching {
    fn default() -> Self {
        RawMatching {
            link_threshold: 0.8,
            review_threshold: 0.6,
            max_candidates: 64,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPartner {
    id: String,
    url: String,
    public_key: PathBuf,
    #[serde(default)]
    previous_key: Vec<RawPreviousKey>,
    /// The partner's TLS certificate (PEM), pinned.
    #[serde(default)]
    tls_cert: Option<PathBuf>,
    /// Records that may wait for this partner (else `[exchange]`'s).
    #[serde(default)]
    max_queue_records: Option<u64>,
    /// This partner's own eligibility plugin (else `[plugins.eligibility]`).
    #[serde(default)]
    eligibility: Option<RawPlugin>,
}

/// A partner key being rotated out: still trusted until `until`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPreviousKey {
    public_key: PathBuf,
    until: toml::value::Datetime,
}

/// Validated hub settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The file these settings came from (plugin reload reads it again).
    pub source: Option<PathBuf>,
    /// The hub's country code, e.g. "CA"; names it in bundles and receipts.
    pub hub_id: String,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub signing_key: PathBuf,
    pub max_batch_bytes: usize,
    pub normaliser: PluginSettings,
    pub eligibility: PluginSettings,
    pub matcher: PluginSettings,
    pub transport: PluginSettings,
    pub plugin_trust: PluginTrust,
    pub exchange: ExchangeSettings,
    pub matching: MatchingSettings,
    pub partners: Vec<PartnerSettings>,
    /// This hub's certificate and key; `None` only with `allow_plain_http`.
    pub tls: Option<TlsFiles>,
    pub access: AccessSettings,
    pub retention: RetentionSettings,
    /// Plain HTTP between hubs is allowed (development only, logged loudly).
    pub allow_plain_http: bool,
    /// The removal-order list (`[removal_orders] file`), if the hub has one;
    /// read at start and at every plugin reload.
    pub removal_orders: Option<PathBuf>,
    /// The file's text, to point later problems (a key file that cannot be
    /// read, a plugin that refuses its configuration) at their key.
    origin: Option<Arc<Origin>>,
}

#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Clone, Debug)]
pub struct PluginSettings {
    pub source: PluginSource,
    /// The plugin's `config` table as a JSON object, handed to `configure`.
    pub config_json: String,
    /// `config_files`: configuration keys whose value is read from a JSON
    /// file each time the plugin is loaded (see [`PluginSettings::configuration`]).
    pub config_files: Vec<(String, PathBuf)>,
    pub deadline_ms: u64,
    pub memory_mib: u64,
    /// Largest output of one call, in KiB, beyond which the call counts as
    /// failed (and its records are isolated and quarantined).
    pub max_output_kib: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginSource {
    /// One of the plugins embedded in the binary, by name.
    Builtin(String),
    File(PathBuf),
}

/// Which plugin files the hub loads: those signed by a trusted key, or any
/// when `allow_unsigned` is set. Built-in plugins are part of the binary.
#[derive(Clone, Debug, Default)]
pub struct PluginTrust {
    pub trusted_keys: Vec<PathBuf>,
    pub allow_unsigned: bool,
    /// The WebAssembly stack a plugin call may use; a deeper call traps (and
    /// its record is quarantined).
    pub max_stack_kib: u64,
}

#[derive(Clone, Debug)]
pub struct ExchangeSettings {
    pub bundle_max_records: usize,
    pub bundle_linger_ms: u64,
    pub retry_min_ms: u64,
    pub retry_max_ms: u64,
    /// Records waiting for one partner at which ingest stops accepting
    /// (HTTP 503): a bound on the disk an outage may take.
    pub max_queue_records: u64,
    /// Fill level (percent of `max_queue_records`) at which the hub alarms.
    pub queue_alarm_percent: u64,
}

#[derive(Clone, Debug)]
pub struct MatchingSettings {
    pub link_threshold: f64,
    pub review_threshold: f64,
    pub max_candidates: usize,
}

#[derive(Clone, Debug)]
pub struct PartnerSettings {
    pub id: String,
    /// Where this hub posts its bundles for the partner.
    pub url: String,
    pub public_key: PathBuf,
    /// Keys being rotated out, each trusted until its time (seconds since the epoch).
    pub previous_keys: Vec<(PathBuf, i64)>,
    /// The partner's certificate: the only one accepted from it (pinned).
    pub tls_cert: Option<PathBuf>,
    /// Records that may wait for this partner before source batches are
    /// refused; `None`: `[exchange] max_queue_records`.
    pub max_queue_records: Option<u64>,
    /// The eligibility plugin deciding what this partner may receive;
    /// `None`: the hub's `[plugins.eligibility]`. Agreements differ by
    /// partner (whose citizens are never shared, which ports are in scope).
    pub eligibility: Option<PluginSettings>,
}

impl Settings {
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Settings::parse(&text, path)
    }

    /// Parses `text` as if read from `path` (used for messages and to resolve
    /// relative paths).
    pub fn parse(text: &str, path: &Path) -> Result<Settings, ConfigError> {
        let origin = Arc::new(Origin::new(path, text));
        // Syntax first, so that a file that is not TOML is not reported as
        // missing its keys.
        if let Err(e) = toml::de::DeTable::parse(text) {
            return Err(origin.syntax(&e).into());
        }
        let raw: RawConfig = toml::from_str(text).map_err(|e| origin.deserialize(&e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        validate(raw, base, origin)
    }

    /// A problem found after parsing, about the value of `key` (e.g.
    /// `hub.signing_key`), pointed at that key in the file when these settings
    /// came from one.
    pub fn error_at(&self, key: &str, message: String) -> ConfigError {
        match &self.origin {
            Some(origin) => origin.bad_value(key, message).into(),
            None => ConfigError::from(Located {
                path: self.source.clone().unwrap_or_default(),
                at: None,
                key: Some(key.to_owned()),
                problem: Problem::BadValue,
                message,
                excerpt: None,
            }),
        }
    }

    /// The key whose value names `file` (`hub.signing_key`,
    /// `partner[0].public_key`, ...), for problems reported by path.
    pub fn key_naming(&self, file: &Path) -> Option<String> {
        let mut named: Vec<(String, &Path)> = vec![("hub.signing_key".into(), &self.signing_key)];
        if let Some(tls) = &self.tls {
            named.push(("hub.tls_cert".into(), &tls.cert));
            named.push(("hub.tls_key".into(), &tls.key));
        }
        for (i, p) in self.partners.iter().enumerate() {
            named.push((format!("partner[{i}].public_key"), &p.public_key));
            for (j, (key, _)) in p.previous_keys.iter().enumerate() {
                named.push((format!("partner[{i}].previous_key[{j}].public_key"), key));
            }
            if let Some(cert) = &p.tls_cert {
                named.push((format!("partner[{i}].tls_cert"), cert));
            }
        }
        for (i, c) in self.access.client_certs.iter().enumerate() {
            named.push((format!("access.client_cert[{i}].cert"), &c.cert));
        }
        for key in &self.plugin_trust.trusted_keys {
            named.push(("plugins.trusted_keys".into(), key));
        }
        for (kind, plugin) in self.plugins() {
            if let PluginSource::File(path) = &plugin.source {
                named.push((format!("plugins.{kind}.component"), path));
            }
        }
        for (i, p) in self.partners.iter().enumerate() {
            if let Some(PluginSettings {
                source: PluginSource::File(path),
                ..
            }) = &p.eligibility
            {
                named.push((format!("partner[{i}].eligibility.component"), path));
            }
        }
        named
            .into_iter()
            .find(|(_, path)| *path == file)
            .map(|(key, _)| key)
    }

    /// The four plugins' settings with the name of their table.
    pub fn plugins(&self) -> [(&'static str, &PluginSettings); 4] {
        [
            ("normaliser", &self.normaliser),
            ("eligibility", &self.eligibility),
            ("matcher", &self.matcher),
            ("transport", &self.transport),
        ]
    }
}

fn validate(raw: RawConfig, base: &Path, origin: Arc<Origin>) -> Result<Settings, ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::from(origin.bad_value(key, message));
    let hub_id = raw.hub.id.trim().to_owned();
    if !is_hub_id(&hub_id) {
        return Err(invalid(
            "hub.id",
            format!("{hub_id:?} is not a hub id; write 2-3 upper-case letters such as \"CA\""),
        ));
    }
    let listen = listen_address(&raw.hub.listen).map_err(|m| invalid("hub.listen", m))?;
    if raw.hub.max_batch_bytes == 0 {
        return Err(invalid(
            "hub.max_batch_bytes",
            "is 0; write a positive number of bytes, e.g. 33554432 (32 MiB)".into(),
        ));
    }
    let plugin = |kind: &str, raw: RawPlugin, default_deadline_ms: u64| {
        plugin_settings(raw, base, default_deadline_ms)
            .map_err(|(key, m)| invalid(&format!("plugins.{kind}.{key}"), m))
    };
    let mut partners = Vec::new();
    for (i, p) in raw.partners.into_iter().enumerate() {
        let key = format!("partner[{i}]");
        if !is_hub_id(&p.id) || p.id == hub_id {
            return Err(invalid(
                &format!("{key}.id"),
                format!(
                    "{:?} is not another hub's id; write the partner's [hub] id, 2-3 upper-case letters other than {hub_id:?}, such as \"US\"",
                    p.id
                ),
            ));
        }
        if partners.iter().any(|q: &PartnerSettings| q.id == p.id) {
            return Err(invalid(
                &format!("{key}.id"),
                format!(
                    "partner {:?} is listed twice; keep one [[partner]] table per partner hub",
                    p.id
                ),
            ));
        }
        if !(p.url.starts_with("http://") || p.url.starts_with("https://"))
            || crate::plugins::canonical_url(&p.url).is_none()
        {
            return Err(invalid(
                &format!("{key}.url"),
                format!(
                    "{:?} is not an http(s) URL; write e.g. \"https://127.0.0.1:7402/v1/partner/bundles\"",
                    p.url
                ),
            ));
        }
        let mut previous_keys = Vec::new();
        for (j, k) in p.previous_key.into_iter().enumerate() {
            let text = k.until.to_string();
            let until = time::OffsetDateTime::parse(
                &text,
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(|_| {
                invalid(
                    &format!("{key}.previous_key[{j}].until"),
                    format!(
                        "{text} is not a full date and time with offset; write e.g. until = 2026-12-31T00:00:00Z (no quotes)"
                    ),
                )
            })?;
            previous_keys.push((base.join(k.public_key), until.unix_timestamp()));
        }
        let eligibility = match p.eligibility {
            Some(raw) => Some(
                plugin_settings(raw, base, 5_000)
                    .map_err(|(k, m)| invalid(&format!("{key}.eligibility.{k}"), m))?,
            ),
            None => None,
        };
        partners.push(PartnerSettings {
            id: p.id,
            url: p.url,
            public_key: base.join(p.public_key),
            previous_keys,
            tls_cert: p.tls_cert.map(|c| base.join(c)),
            max_queue_records: p.max_queue_records,
            eligibility,
        });
    }
    let tls =
        transport_security(&raw.hub, &hub_id, &partners, base).map_err(|(k, m)| invalid(&k, m))?;
    let access = access_settings(raw.access, base).map_err(|(k, m)| invalid(&k, m))?;
    let r = raw.retention;
    for (key, days) in [
        ("retention.raw_days", r.raw_days),
        ("retention.crossings_days", r.crossings_days),
        ("retention.received_days", r.received_days),
    ] {
        if !(1..=36_600).contains(&days) {
            return Err(invalid(
                key,
                format!(
                    "{days} days: write a number of days between 1 and 36600, e.g. 1830 for five years"
                ),
            ));
        }
    }
    if !(1..=8_784).contains(&r.purge_every_hours) {
        return Err(invalid(
            "retention.purge_every_hours",
            "must be between 1 and 8784 (a year), e.g. 24".into(),
        ));
    }
    let retention = RetentionSettings {
        raw_days: r.raw_days,
        crossings_days: r.crossings_days,
        received_days: r.received_days,
        purge_every_hours: r.purge_every_hours,
    };
    let exchange = ExchangeSettings {
        bundle_max_records: raw.exchange.bundle_max_records,
        bundle_linger_ms: raw.exchange.bundle_linger_ms,
        retry_min_ms: raw.exchange.retry_min_ms,
        retry_max_ms: raw.exchange.retry_max_ms,
        max_queue_records: raw.exchange.max_queue_records,
        queue_alarm_percent: raw.exchange.queue_alarm_percent,
    };
    let range = |key: &str, value: u64, min: u64, max: u64, example: &str| {
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(invalid(
                key,
                format!(
                    "{value} is out of range; write a number from {min} to {max}, e.g. {example}"
                ),
            ))
        }
    };
    range(
        "exchange.bundle_max_records",
        exchange.bundle_max_records as u64,
        1,
        50_000,
        "2000",
    )?;
    if exchange.max_queue_records < exchange.bundle_max_records as u64 {
        return Err(invalid(
            "exchange.max_queue_records",
            format!(
                "{} is less than exchange.bundle_max_records ({}); write a larger number, e.g. 10000000",
                exchange.max_queue_records, exchange.bundle_max_records
            ),
        ));
    }
    for (i, p) in partners.iter().enumerate() {
        if let Some(n) = p.max_queue_records
            && n < exchange.bundle_max_records as u64
        {
            return Err(invalid(
                &format!("partner[{i}].max_queue_records"),
                format!(
                    "{n} is less than exchange.bundle_max_records ({}); write a larger number, e.g. 10000000",
                    exchange.bundle_max_records
                ),
            ));
        }
    }
    range(
        "exchange.queue_alarm_percent",
        exchange.queue_alarm_percent,
        1,
        100,
        "80",
    )?;
    // Records wait this long for company before a bundle is sealed.
    range(
        "exchange.bundle_linger_ms",
        exchange.bundle_linger_ms,
        0,
        60_000,
        "200",
    )?;
    range(
        "exchange.retry_min_ms",
        exchange.retry_min_ms,
        1,
        3_600_000,
        "200",
    )?;
    range(
        "exchange.retry_max_ms",
        exchange.retry_max_ms,
        exchange.retry_min_ms,
        3_600_000,
        "30000",
    )?;
    if let Some(kib) = raw.plugins.max_stack_kib {
        range("plugins.max_stack_kib", kib, 64, 65_536, "512")?;
    }
    let m = raw.matching;
    range(
        "matching.max_candidates",
        m.max_candidates as u64,
        1,
        10_000,
        "64",
    )?;
    for (key, value, example) in [
        ("matching.link_threshold", m.link_threshold, "0.8"),
        ("matching.review_threshold", m.review_threshold, "0.6"),
    ] {
        if !(0.0..=1.0).contains(&value) {
            return Err(invalid(
                key,
                format!("{value} is not a score; write a number from 0 to 1, e.g. {example}"),
            ));
        }
    }
    if m.review_threshold > m.link_threshold {
        return Err(invalid(
            "matching.review_threshold",
            format!(
                "{} is above link_threshold ({}): a pair that scores this high is already linked; write a value at most {}, e.g. 0.6",
                m.review_threshold, m.link_threshold, m.link_threshold
            ),
        ));
    }
    Ok(Settings {
        source: Some(origin.path.clone()),
        hub_id,
        listen,
        data_dir: base.join(raw.hub.data_dir),
        signing_key: base.join(raw.hub.signing_key),
        max_batch_bytes: raw.hub.max_batch_bytes,
        normaliser: plugin("normaliser", raw.plugins.normaliser, 5_000)?,
        eligibility: plugin("eligibility", raw.plugins.eligibility, 5_000)?,
        matcher: plugin("matcher", raw.plugins.matcher, 5_000)?,
        transport: plugin("transport", raw.plugins.transport, 120_000)?,
        plugin_trust: PluginTrust {
            trusted_keys: raw
                .plugins
                .trusted_keys
                .iter()
                .map(|p| base.join(p))
                .collect(),
            allow_unsigned: raw.plugins.allow_unsigned,
            max_stack_kib: raw.plugins.max_stack_kib.unwrap_or(512),
        },
        exchange,
        matching: MatchingSettings {
            link_threshold: m.link_threshold,
            review_threshold: m.review_threshold,
            max_candidates: m.max_candidates,
        },
        partners,
        tls,
        allow_plain_http: raw.hub.allow_plain_http,
        access,
        retention,
        removal_orders: raw.removal_orders.map(|r| base.join(r.file)),
        origin: Some(origin.clone()),
    })
}

/// Mutual TLS between hubs unless `allow_plain_http`: the hub's certificate
/// and key, https partner URLs, and each partner's certificate to pin.
fn transport_security(
    hub: &RawHub,
    hub_id: &str,
    partners: &[PartnerSettings],
    base: &Path,
) -> Result<Option<TlsFiles>, (String, String)> {
    let me = hub_id.to_ascii_lowercase();
    let plain_ok = hub.allow_plain_http;
    let dev_only = "or, for local development only, allow_plain_http = true under [hub]";
    let tls = match (&hub.tls_cert, &hub.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: base.join(cert),
            key: base.join(key),
        }),
        (None, None) if plain_ok => None,
        (None, None) => {
            return Err((
                "hub.tls_cert".into(),
                format!(
                    "missing: hubs talk over mutual TLS; write tls_cert = \"../keys/{me}.cert.pem\" and tls_key = \"../keys/{me}.tls.key.pem\" under [hub] (`entrex keygen --out keys --name {me}` makes them), {dev_only}"
                ),
            ));
        }
        (Some(_), None) => {
            return Err((
                "hub.tls_key".into(),
                format!(
                    "missing: tls_cert needs its private key; write tls_key = \"../keys/{me}.tls.key.pem\""
                ),
            ));
        }
        (None, Some(_)) => {
            return Err((
                "hub.tls_cert".into(),
                format!(
                    "missing: tls_key needs its certificate; write tls_cert = \"../keys/{me}.cert.pem\""
                ),
            ));
        }
    };
    for (i, p) in partners.iter().enumerate() {
        let https = crate::tls::is_https(&p.url);
        let theirs = p.id.to_ascii_lowercase();
        if !https && !plain_ok {
            return Err((
                format!("partner[{i}].url"),
                format!(
                    "{:?} is plain HTTP; write \"https://{}\" (partner hubs talk over mutual TLS), {dev_only}",
                    p.url,
                    p.url.get(7..).unwrap_or_default()
                ),
            ));
        }
        if https && tls.is_none() {
            return Err((
                format!("partner[{i}].url"),
                "https to a partner needs this hub's own certificate (its client certificate); write tls_cert and tls_key under [hub]".into(),
            ));
        }
        if p.tls_cert.is_none() && (https || tls.is_some()) {
            return Err((
                format!("partner[{i}].tls_cert"),
                format!(
                    "missing: write tls_cert = \"../keys/{theirs}.cert.pem\", the partner hub's certificate; it is pinned: only this exact certificate is accepted from {}",
                    p.id
                ),
            ));
        }
    }
    Ok(tls)
}

fn plugin_settings(
    raw: RawPlugin,
    base: &Path,
    default_deadline_ms: u64,
) -> Result<PluginSettings, (&'static str, String)> {
    let source = match raw.component.strip_prefix("builtin:") {
        Some(name) => {
            if !crate::plugins::BUILTIN.iter().any(|(n, _)| *n == name) {
                let names: Vec<_> = crate::plugins::BUILTIN
                    .iter()
                    .map(|(n, _)| format!("builtin:{n}"))
                    .collect();
                return Err((
                    "component",
                    format!(
                        "component {:?} is not embedded in this binary; use one of {} or a path to a .wasm file",
                        raw.component,
                        names.join(", ")
                    ),
                ));
            }
            PluginSource::Builtin(name.to_owned())
        }
        None => PluginSource::File(base.join(&raw.component)),
    };
    let config = raw.config.unwrap_or_default();
    let mut config_files = Vec::new();
    for (key, value) in raw.config_files.unwrap_or_default() {
        let Some(path) = value.as_str() else {
            return Err((
                "config_files",
                format!(
                    "{key} must be the path of a JSON file, e.g. {key} = \"matcher-model.json\""
                ),
            ));
        };
        if config.contains_key(&key) {
            return Err((
                "config_files",
                format!("{key} is in both config and config_files; keep one"),
            ));
        }
        config_files.push((key, base.join(path)));
    }
    let config_json = serde_json::to_string(&config).map_err(|e| {
        (
            "config",
            format!("cannot be handed to the plugin as JSON: {e}"),
        )
    })?;
    let limit = |key: &'static str, value: u64, max: u64, example: &str| {
        if (1..=max).contains(&value) {
            Ok(value)
        } else {
            Err((
                key,
                format!("{value} is out of range; write a number from 1 to {max}, e.g. {example}"),
            ))
        }
    };
    let deadline_ms = limit(
        "deadline_ms",
        raw.deadline_ms.unwrap_or(default_deadline_ms),
        600_000,
        "5000 (five seconds)",
    )?;
    let memory_mib = limit("memory_mib", raw.memory_mib.unwrap_or(256), 4096, "256")?;
    let max_output_kib = limit(
        "max_output_kib",
        raw.max_output_kib.unwrap_or(16 * 1024),
        1024 * 1024,
        "16384 (16 MiB)",
    )?;
    Ok(PluginSettings {
        source,
        config_json,
        config_files,
        deadline_ms,
        memory_mib,
        max_output_kib,
    })
}

impl PluginSettings {
    /// The JSON `configure` gets: the `config` table with each of
    /// `config_files` read in under its key. Read at every load, so a
    /// reload picks up a file changed in place.
    pub fn configuration(&self) -> Result<String, String> {
        if self.config_files.is_empty() {
            return Ok(self.config_json.clone());
        }
        let mut config: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&self.config_json).map_err(|e| e.to_string())?;
        for (key, path) in &self.config_files {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read config_files.{key} ({}): {e}", path.display()))?;
            let value = serde_json::from_str(&text)
                .map_err(|e| format!("config_files.{key} ({}) is not JSON: {e}", path.display()))?;
            config.insert(key.clone(), value);
        }
        Ok(serde_json::Value::Object(config).to_string())
    }
}

/// The API's address: an IP and a port, with a message that says which half
/// is wrong (a port out of range is the usual slip).
fn listen_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let example = "write an IP address and a port such as \"127.0.0.1:7401\" (\"[::1]:7401\" for IPv6, \"0.0.0.0:7401\" for every interface)";
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("{text:?} has no port; {example}"));
    };
    match port.parse::<u64>() {
        Ok(n) if n > u64::from(u16::MAX) => Err(format!(
            "port {n} is out of range; write a port from 1 to 65535, e.g. \"{host}:7401\""
        )),
        Ok(_) => Err(format!(
            "{host:?} is not an IP address (names are not looked up); {example}"
        )),
        Err(_) => Err(format!("{port:?} is not a port number; {example}")),
    }
}

fn is_hub_id(id: &str) -> bool {
    (2..=3).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_uppercase())
}

/// The credentials `[access]` lists.
#[derive(Clone, Debug, Default)]
pub struct AccessSettings {
    pub allow_anonymous: bool,
    pub tokens: Vec<crate::auth::TokenEntry>,
    pub client_certs: Vec<crate::auth::CertEntry>,
}

fn access_settings(raw: RawAccess, base: &Path) -> Result<AccessSettings, (String, String)> {
    let mut tokens = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, t) in raw.token.into_iter().enumerate() {
        let key = format!("access.token[{i}]");
        let bytes = hex::decode(t.sha256.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| {
                (
                    format!("{key}.sha256"),
                    "must be 64 hex digits: the SHA-256 of the token, as `entrex token` prints it (never the token itself)".to_owned(),
                )
            })?;
        check_credential(&key, &t.name, &t.roles, &mut names)?;
        // A bearer token is not bound to the connection: whoever holds it
        // could deliver bundles without presenting the pinned certificate.
        if t.roles.contains(&crate::auth::Role::Partner) {
            return Err((
                format!("{key}.roles"),
                "partner is not granted to a token: a partner hub is known by the tls_cert pinned under its [[partner]]; remove \"partner\" and list what the holder does, e.g. roles = [\"source\"]".into(),
            ));
        }
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&bytes);
        tokens.push(crate::auth::TokenEntry {
            name: t.name,
            roles: t.roles,
            sha256,
        });
    }
    let mut client_certs = Vec::new();
    for (i, c) in raw.client_cert.into_iter().enumerate() {
        let key = format!("access.client_cert[{i}]");
        check_credential(&key, &c.name, &c.roles, &mut names)?;
        if c.roles.contains(&crate::auth::Role::Partner) {
            return Err((
                format!("{key}.roles"),
                "partner is not granted here: a partner hub is known by the tls_cert pinned under its [[partner]]".into(),
            ));
        }
        client_certs.push(crate::auth::CertEntry {
            name: c.name,
            roles: c.roles,
            cert: base.join(c.cert),
        });
    }
    if tokens.is_empty() && client_certs.is_empty() && !raw.allow_anonymous {
        return Err((
            "access".into(),
            "no credentials: nobody could call this hub. Add [[access.token]] entries (name, roles, sha256; `entrex token --name NAME --role ROLE` makes one) or [[access.client_cert]] entries (name, roles, cert); for local development only, allow_anonymous = true".into(),
        ));
    }
    Ok(AccessSettings {
        allow_anonymous: raw.allow_anonymous,
        tokens,
        client_certs,
    })
}

fn check_credential(
    key: &str,
    name: &str,
    roles: &[crate::auth::Role],
    names: &mut std::collections::HashSet<String>,
) -> Result<(), (String, String)> {
    if name.trim().is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err((
            format!("{key}.name"),
            "must name who holds the credential in 1 to 64 characters, e.g. \"cbsa-ingest-1\" (it is written in the audit log)".into(),
        ));
    }
    if !names.insert(name.to_owned()) {
        return Err((
            format!("{key}.name"),
            format!("{name:?} is used twice; give each credential its own name"),
        ));
    }
    if roles.is_empty() {
        return Err((
            format!("{key}.roles"),
            "must list at least one of \"source\", \"analyst\", \"operator\"".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        Settings::parse(text, Path::new("config/hub.toml"))
    }

    fn problem(text: &str) -> Located {
        match parse(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(ConfigError::At(located)) => *located,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn the_reference_is_a_valid_configuration() {
        let settings = parse(diagnostic::REFERENCE).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.hub_id, "CA");
        assert_eq!(settings.partners[0].previous_keys.len(), 1);
    }

    /// Every table the hub reads, at every depth, is probed with a key it
    /// does not know; serde's refusal lists the keys the table does know, and
    /// each must be written in that table of the reference. So a key added
    /// to `RawConfig` without documenting it fails here.
    #[test]
    fn the_reference_has_every_key_the_hub_accepts() {
        let reference: toml::Table = toml::from_str(diagnostic::REFERENCE).unwrap();
        let mut opaque = Vec::new();
        let mut probed = 0;
        let mut tables = vec![Vec::<String>::new()];
        while let Some(path) = tables.pop() {
            let mut probe = reference.clone();
            let table = table_at(&mut probe, &path);
            let present: Vec<String> = table.keys().cloned().collect();
            for (key, value) in table.iter() {
                match value {
                    toml::Value::Table(_) => {
                        tables.push([path.clone(), vec![key.clone()]].concat())
                    }
                    toml::Value::Array(items)
                        if !items.is_empty() && items.iter().all(toml::Value::is_table) =>
                    {
                        tables.push([path.clone(), vec![key.clone(), "0".into()]].concat())
                    }
                    _ => {}
                }
            }
            table.insert("zz_not_a_key".into(), toml::Value::Integer(1));
            let text = toml::to_string(&probe).unwrap();
            let Err(e) = toml::from_str::<RawConfig>(&text) else {
                // A free-form table, handed to a plugin as it is.
                opaque.push(path.join("."));
                continue;
            };
            let message = e.message();
            assert!(
                message.starts_with("unknown field `zz_not_a_key`"),
                "{path:?}: {message}"
            );
            let known: Vec<&str> = message.split('`').skip(1).step_by(2).skip(1).collect();
            assert!(!known.is_empty(), "{path:?}: {message}");
            for key in known {
                assert!(
                    present.iter().any(|p| p == key),
                    "config/reference.toml lacks `{key}` in [{}]; document it there with its default",
                    path.join(".")
                );
            }
            probed += 1;
        }
        // The root, hub, plugins and its four plugins, exchange, retention,
        // removal_orders, matching, access with its token and client_cert,
        // partner, its eligibility plugin, previous_key.
        assert_eq!(probed, 17, "tables probed");
        // Free-form: what a plugin is configured with, and which of its keys
        // are read from files.
        assert!(
            opaque
                .iter()
                .all(|p| p.ends_with(".config") || p.ends_with(".config_files")),
            "{opaque:?}"
        );
    }

    fn table_at<'t>(table: &'t mut toml::Table, path: &[String]) -> &'t mut toml::Table {
        let mut value = table;
        let mut i = 0;
        while i < path.len() {
            let next = value.get_mut(&path[i]).unwrap();
            value = match next {
                toml::Value::Array(items) => {
                    i += 1;
                    let index: usize = path[i].parse().unwrap();
                    items[index].as_table_mut().unwrap()
                }
                other => other.as_table_mut().unwrap(),
            };
            i += 1;
        }
        value
    }

    fn reference_with(from: &str, to: &str) -> String {
        assert!(diagnostic::REFERENCE.contains(from), "{from}");
        diagnostic::REFERENCE.replacen(from, to, 1)
    }

    /// Found by fuzzing (fuzz/ config target): a syntax error on a long
    /// line echoed the whole line, control characters and all, into the
    /// message (2,257 bytes for one line of `=`, with raw CR and \x1d).
    #[test]
    fn a_syntax_error_quotes_a_short_printable_excerpt_of_its_line() {
        let line = format!(
            "#{}\u{1d}{}\r\r\u{1b}[2J{}",
            "=".repeat(3000),
            "x".repeat(10),
            "=".repeat(3000)
        );
        let text = format!("[hub]\nid = \"CA\"\n{line}\n");
        let message = parse(&text).unwrap_err().to_string();
        assert!(message.len() < 600, "{} bytes: {message:?}", message.len());
        assert!(
            !message.chars().any(|c| c.is_control() && c != '\n'),
            "{message:?}"
        );
        assert!(
            message.contains(":3:"),
            "the place is still named: {message}"
        );
        // The caret still points under the character at fault.
        let lines: Vec<&str> = message.lines().collect();
        let (quoted, caret) = (lines[lines.len() - 2], lines[lines.len() - 1]);
        let at = caret.find('^').unwrap();
        assert_eq!(
            quoted.chars().nth(caret[..at].chars().count()),
            Some('?'),
            "{message}"
        );
    }

    #[test]
    fn config_files_name_json_files_and_never_a_key_of_config_too() {
        let matcher = "# config_files = { model = \"matcher-model.json\" }\nconfig_files = {}";
        let settings = parse(&reference_with(
            matcher,
            "config_files = { model = \"models/m.json\" }",
        ))
        .unwrap();
        assert_eq!(
            settings.matcher.config_files,
            [("model".to_owned(), PathBuf::from("config/models/m.json"))]
        );
        let p = problem(&reference_with(matcher, "config_files = { model = 3 }"));
        assert!(
            p.message.contains("model must be the path of a JSON file"),
            "{}",
            p.message
        );
        let eligibility = "\"bus\"] }\nconfig_files = {}";
        let p = problem(&reference_with(
            eligibility,
            "\"bus\"] }\nconfig_files = { ports = \"ports.json\" }",
        ));
        assert!(
            p.message
                .contains("ports is in both config and config_files"),
            "{}",
            p.message
        );
    }

    #[test]
    fn a_typo_is_refused_with_its_place_and_the_key_meant() {
        let p = problem(&reference_with("listen = ", "lisen = "));
        assert_eq!(p.problem, Problem::UnknownKey);
        assert_eq!(p.key.as_deref(), Some("hub.lisen"));
        let line = diagnostic::REFERENCE[..diagnostic::REFERENCE.find("listen = ").unwrap()]
            .lines()
            .count()
            + 1;
        assert_eq!(p.at, Some(Location { line, column: 1 }));
        assert!(
            p.message.contains("did you mean `listen`?"),
            "{}",
            p.message
        );
        // In the wrong table: where it belongs.
        let p = problem(&reference_with(
            "allow_plain_http = false",
            "allow_unsigned = false",
        ));
        assert!(p.message.contains("belongs in [plugins]"), "{}", p.message);
        // A whole table misspelt.
        let p = problem(&reference_with("\n[exchange]\n", "\n[exchnage]\n"));
        assert!(
            p.message.contains("did you mean `exchange`?"),
            "{}",
            p.message
        );
        // One partner written as a table, not an array of tables.
        let p = problem(&reference_with("\n[[partner]]\n", "\n[partner]\n"));
        assert_eq!(p.problem, Problem::WrongType);
        assert!(p.message.contains("[[partner]]"), "{}", p.message);
    }

    #[test]
    fn values_are_checked_where_they_are_written() {
        let p = problem(&reference_with("\"127.0.0.1:7401\"", "\"127.0.0.1:74010\""));
        assert_eq!(p.key.as_deref(), Some("hub.listen"));
        assert_eq!(p.at.map(|a| a.column), Some(10));
        assert!(
            p.message.contains("port 74010 is out of range"),
            "{}",
            p.message
        );

        let p = problem(&reference_with(
            "review_threshold = 0.6",
            "review_threshold = 0.9",
        ));
        assert_eq!(p.key.as_deref(), Some("matching.review_threshold"));
        assert!(p.message.contains("at most 0.8"), "{}", p.message);

        let p = problem(&reference_with("deadline_ms = 120000", "deadline_ms = 0"));
        assert_eq!(p.key.as_deref(), Some("plugins.transport.deadline_ms"));

        let p = problem(&reference_with(
            "max_candidates = 64",
            "max_candidates = \"64\"",
        ));
        assert_eq!(p.problem, Problem::WrongType);
        assert_eq!(p.key.as_deref(), Some("matching.max_candidates"));
        assert!(p.message.contains("a whole number"), "{}", p.message);
        assert!(p.message.contains("max_candidates = 64"), "{}", p.message);
    }

    #[test]
    fn a_missing_key_is_named_with_an_example() {
        let p = problem(&reference_with(
            "signing_key = \"../keys/ca.key.pem\"\n",
            "",
        ));
        assert_eq!(p.problem, Problem::MissingKey);
        assert_eq!(p.key.as_deref(), Some("hub.signing_key"));
        assert!(
            p.message.contains("signing_key = \"../keys/ca.key.pem\""),
            "{}",
            p.message
        );
        let p = problem("[hub]\nid = \"CA\"\n[hub]\n");
        assert_eq!(p.problem, Problem::Syntax);
        assert_eq!(p.at.map(|a| a.line), Some(3));
    }

    #[test]
    fn problems_found_later_point_at_the_key_naming_the_file() {
        let settings = parse(diagnostic::REFERENCE).unwrap();
        let key = settings
            .key_naming(Path::new("config/../keys/us.pub.pem"))
            .unwrap();
        assert_eq!(key, "partner[0].public_key");
        let e = settings.error_at(&key, "cannot read it".into());
        let text = e.to_string();
        assert!(text.starts_with("config/hub.toml:"), "{text}");
        assert!(
            text.contains("partner[0].public_key: cannot read it"),
            "{text}"
        );
    }
}
