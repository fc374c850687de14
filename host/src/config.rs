//! Hub configuration: a TOML file parsed with unknown keys refused, then
//! validated into [`Settings`], which the rest of the code trusts.
//!
//! Relative paths in the file are relative to the file's own directory, so a
//! config directory can be moved as a whole.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
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
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        validate(raw, base, path)
    }
}

fn validate(raw: RawConfig, base: &Path, path: &Path) -> Result<Settings, ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        path: path.to_owned(),
        key: key.to_owned(),
        message,
    };
    let hub_id = raw.hub.id.trim().to_owned();
    if !is_hub_id(&hub_id) {
        return Err(invalid(
            "hub.id",
            format!("{hub_id:?} is not a hub id; write 2-3 upper-case letters such as \"CA\""),
        ));
    }
    let listen: SocketAddr = raw.hub.listen.parse().map_err(|_| {
        invalid(
            "hub.listen",
            format!(
                "{:?} is not an address; write an IP and port such as \"127.0.0.1:7401\"",
                raw.hub.listen
            ),
        )
    })?;
    if raw.hub.max_batch_bytes == 0 {
        return Err(invalid(
            "hub.max_batch_bytes",
            "must be positive, e.g. 33554432 (32 MiB)".into(),
        ));
    }
    let plugin = |key: &str, raw: RawPlugin, default_deadline_ms: u64| {
        plugin_settings(raw, base, default_deadline_ms).map_err(|m| invalid(key, m))
    };
    let mut partners = Vec::new();
    for (i, p) in raw.partners.into_iter().enumerate() {
        let key = format!("partner[{i}]");
        if !is_hub_id(&p.id) || p.id == hub_id {
            return Err(invalid(
                &format!("{key}.id"),
                format!(
                    "{:?} must be another hub's id (2-3 upper-case letters, not {hub_id:?})",
                    p.id
                ),
            ));
        }
        if partners.iter().any(|q: &PartnerSettings| q.id == p.id) {
            return Err(invalid(
                &format!("{key}.id"),
                format!("partner {:?} is listed twice", p.id),
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
                    format!("{text} is not a full date and time; write e.g. 2026-12-31T00:00:00Z"),
                )
            })?;
            previous_keys.push((base.join(k.public_key), until.unix_timestamp()));
        }
        partners.push(PartnerSettings {
            id: p.id,
            url: p.url,
            public_key: base.join(p.public_key),
            previous_keys,
            tls_cert: p.tls_cert.map(|c| base.join(c)),
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
    if exchange.max_queue_records < exchange.bundle_max_records as u64 {
        return Err(invalid(
            "exchange.max_queue_records",
            "must be at least exchange.bundle_max_records, e.g. 10000000".into(),
        ));
    }
    if !(1..=100).contains(&exchange.queue_alarm_percent) {
        return Err(invalid(
            "exchange.queue_alarm_percent",
            "must be between 1 and 100, e.g. 80".into(),
        ));
    }
    if exchange.bundle_linger_ms > 60_000 {
        return Err(invalid(
            "exchange.bundle_linger_ms",
            "must be at most 60000 (a minute); records wait this long for company".into(),
        ));
    }
    if !(1..=3_600_000).contains(&exchange.retry_min_ms) {
        return Err(invalid(
            "exchange.retry_min_ms",
            "must be between 1 and 3600000, e.g. 200".into(),
        ));
    }
    if !(1..=50_000).contains(&exchange.bundle_max_records) {
        return Err(invalid(
            "exchange.bundle_max_records",
            "must be between 1 and 50000".into(),
        ));
    }
    if exchange.retry_max_ms < exchange.retry_min_ms || exchange.retry_max_ms > 3_600_000 {
        return Err(invalid(
            "exchange.retry_max_ms",
            "must be at least exchange.retry_min_ms and at most 3600000 (an hour)".into(),
        ));
    }
    if let Some(kib) = raw.plugins.max_stack_kib
        && !(64..=65536).contains(&kib)
    {
        return Err(invalid(
            "plugins.max_stack_kib",
            "must be between 64 and 65536 (KiB), e.g. 512".into(),
        ));
    }
    let m = raw.matching;
    if !(1..=10_000).contains(&m.max_candidates) {
        return Err(invalid(
            "matching.max_candidates",
            "must be between 1 and 10000, e.g. 64".into(),
        ));
    }
    if !(0.0..=1.0).contains(&m.review_threshold)
        || !(0.0..=1.0).contains(&m.link_threshold)
        || m.review_threshold > m.link_threshold
    {
        return Err(invalid(
            "matching",
            "thresholds must satisfy 0 <= review_threshold <= link_threshold <= 1".into(),
        ));
    }
    Ok(Settings {
        source: Some(path.to_owned()),
        hub_id,
        listen,
        data_dir: base.join(raw.hub.data_dir),
        signing_key: base.join(raw.hub.signing_key),
        max_batch_bytes: raw.hub.max_batch_bytes,
        normaliser: plugin("plugins.normaliser", raw.plugins.normaliser, 5_000)?,
        eligibility: plugin("plugins.eligibility", raw.plugins.eligibility, 5_000)?,
        matcher: plugin("plugins.matcher", raw.plugins.matcher, 5_000)?,
        transport: plugin("plugins.transport", raw.plugins.transport, 120_000)?,
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
) -> Result<PluginSettings, String> {
    let source = match raw.component.strip_prefix("builtin:") {
        Some(name) => {
            if !crate::plugins::BUILTIN.iter().any(|(n, _)| *n == name) {
                let names: Vec<_> = crate::plugins::BUILTIN
                    .iter()
                    .map(|(n, _)| format!("builtin:{n}"))
                    .collect();
                return Err(format!(
                    "component {:?} is not embedded in this binary; use one of {} or a path to a .wasm file",
                    raw.component,
                    names.join(", ")
                ));
            }
            PluginSource::Builtin(name.to_owned())
        }
        None => PluginSource::File(base.join(&raw.component)),
    };
    let config_json = serde_json::to_string(&raw.config.unwrap_or_default())
        .map_err(|e| format!("config: {e}"))?;
    let deadline_ms = raw.deadline_ms.unwrap_or(default_deadline_ms);
    if !(1..=600_000).contains(&deadline_ms) {
        return Err("deadline_ms must be between 1 and 600000 (ten minutes)".into());
    }
    let memory_mib = raw.memory_mib.unwrap_or(256);
    if !(1..=4096).contains(&memory_mib) {
        return Err("memory_mib must be between 1 and 4096".into());
    }
    let max_output_kib = raw.max_output_kib.unwrap_or(16 * 1024);
    if !(1..=1024 * 1024).contains(&max_output_kib) {
        return Err("max_output_kib must be between 1 and 1048576 (1 GiB)".into());
    }
    Ok(PluginSettings {
        source,
        config_json,
        deadline_ms,
        memory_mib,
        max_output_kib,
    })
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
