//! A running hub: its store, plugins, keys, HTTP server and background workers
//! (one bundler per partner, one matcher per partner), started together and
//! stopped together.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::bundle::{Keyring, Signer};
use crate::config::Settings;
use crate::keys::{self, KeyError};
use crate::plugins::{Eligibility, Matcher, Normaliser, PluginError, Transport, Trust};
use crate::store::{Store, StoreError};

/// What a successful reload did.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ReloadReport {
    pub plugins: Vec<String>,
    /// Recent records the new plugins ran on before being swapped in.
    pub canary_records: usize,
    /// Of those, how many the new eligibility plugin decides differently.
    pub decisions_changed: usize,
    /// Rows of the removal-order list read again (absent: no list).
    #[serde(default)]
    pub removal_order_rows: Option<usize>,
}

struct Canary {
    records: usize,
    failures: Vec<String>,
    decisions_changed: usize,
}

/// Records the canary runs on.
const CANARY_RECORDS: usize = 256;

/// Runs candidate plugins on the most recent records. A trap or broken
/// contract on any of them fails the canary.
fn canary(core: &Core, candidate: &Plugins) -> Result<Canary, HubError> {
    let store_error = |e: StoreError| HubError::Reload(format!("cannot read recent records: {e}"));
    let raw = core.store.recent_raw(CANARY_RECORDS).map_err(store_error)?;
    let stored = core
        .store
        .recent_crossings(CANARY_RECORDS)
        .map_err(store_error)?;
    let mut failures = Vec::new();
    let records: Vec<crate::plugins::SourceRecord> = raw
        .into_iter()
        .map(|(id, data)| crate::plugins::SourceRecord {
            location: format!("record #{id}"),
            data,
        })
        .collect();
    let count = records.len().max(stored.len());
    if let Err(e) = candidate.normaliser.normalise(&records) {
        failures.push(e.to_string());
    }
    let crossings: Vec<_> = stored.iter().map(|s| s.crossing.clone()).collect();
    let mut decisions_changed = 0;
    match candidate.eligibility.decide(&crossings) {
        Ok(decisions) => {
            decisions_changed = decisions
                .iter()
                .zip(&stored)
                .filter(|(new, old)| **new != old.decision)
                .count()
        }
        Err(e) => failures.push(e.to_string()),
    }
    for (partner, plugin) in &candidate.partner_eligibility {
        match plugin.decide(&crossings) {
            Ok(decisions) => {
                decisions_changed += decisions
                    .iter()
                    .zip(&stored)
                    .filter(|(new, old)| *new != old.decision_for(partner))
                    .count()
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    let projected: Vec<_> = crossings
        .iter()
        .map(crate::record::Crossing::project)
        .collect();
    if let Err(e) = candidate.matcher.block_keys(&projected) {
        failures.push(e.to_string());
    }
    let pairs: Vec<_> = projected.iter().map(|r| (r, r)).collect();
    if let Err(e) = candidate.matcher.score(&pairs) {
        failures.push(e.to_string());
    }
    Ok(Canary {
        records: count,
        failures,
        decisions_changed,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("plugin reload refused: {0}")]
    Reload(String),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    RemovalOrders(#[from] crate::removal::RemovalError),
    #[error("cannot open the store in {path}: {source}")]
    Store { path: PathBuf, source: StoreError },
    #[error(transparent)]
    Access(#[from] crate::auth::AccessError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error("cannot create {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the store lost durability ({0}); the hub stopped so that it starts again and recovers from its log (systemd's Restart=on-failure does this)"
    )]
    DurabilityLost(String),
    #[error("no partner {0} is configured")]
    UnknownPartner(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// A problem that comes from the value of one configuration key, so the
    /// binary can point at the line that set it.
    #[error("{source}")]
    Setting {
        key: String,
        #[source]
        source: Box<HubError>,
    },
}

impl HubError {
    /// The configuration key this problem comes from, if one does.
    pub fn setting(&self) -> Option<&str> {
        match self {
            HubError::Setting { key, .. } => Some(key),
            _ => None,
        }
    }

    fn at(key: impl Into<String>, error: impl Into<HubError>) -> HubError {
        HubError::Setting {
            key: key.into(),
            source: Box::new(error.into()),
        }
    }

    /// Ties a problem reported by file to the key naming the file.
    fn about_files(self, settings: &Settings) -> HubError {
        use crate::tls::TlsError;
        let file = match &self {
            HubError::Key(KeyError::Read { path, .. } | KeyError::Parse { path, .. })
            | HubError::Tls(
                TlsError::Certificate { path, .. }
                | TlsError::Key { path, .. }
                | TlsError::Identity { cert: path, .. },
            ) => Some(path.as_path()),
            HubError::Plugin(PluginError::Read { path, .. }) => Some(std::path::Path::new(path)),
            _ => None,
        };
        match file.and_then(|f| settings.key_naming(f)) {
            Some(key) => HubError::at(key, self),
            None => self,
        }
    }
}

/// The four plugins a hub runs, loaded together and swapped together.
pub struct Plugins {
    pub normaliser: Arc<Normaliser>,
    pub eligibility: Arc<Eligibility>,
    /// Eligibility plugins of partners that have their own
    /// (`[partner.eligibility]`), by partner id, in configuration order.
    pub partner_eligibility: Vec<(String, Arc<Eligibility>)>,
    pub matcher: Arc<Matcher>,
    pub transport: Arc<Transport>,
}

impl Plugins {
    /// What every plugin has done since it was loaded.
    pub fn stats(&self) -> Vec<crate::plugins::PluginStats> {
        let mut out = vec![self.normaliser.stats(), self.eligibility.stats()];
        out.extend(self.partner_eligibility.iter().map(|(_, p)| p.stats()));
        out.extend([self.matcher.stats(), self.transport.stats()]);
        out
    }

    /// Every plugin's name, in the order of [`Plugins::stats`].
    pub fn names(&self) -> Vec<String> {
        self.stats().into_iter().map(|s| s.plugin).collect()
    }
}

/// Everything the API handlers and workers share.
pub struct Core {
    pub settings: Settings,
    pub store: Store,
    /// Replaced whole by a reload; work in flight keeps the set it started with.
    plugins: std::sync::RwLock<Arc<Plugins>>,
    pub signer: Signer,
    /// Partner keys, each owned by its partner's hub id; replaced whole by a
    /// reload (a partner's key rotation, ARCHITECTURE.md).
    partner_keys: std::sync::RwLock<Arc<Keyring>>,
    pub partner_ids: Vec<String>,
    /// Wakes the bundlers when records are queued.
    pub outbox_ready: Notify,
    /// Wakes the matchers when records arrive.
    pub inbox_ready: Notify,
    /// Serialises ingest transactions: concurrent ones would conflict on the
    /// counters and sled would rerun their closures.
    pub ingest_lock: std::sync::Mutex<()>,
    /// The TLS the server terminates and the pinned partner certificates;
    /// `None` when the hub serves plain HTTP (`allow_plain_http`).
    pub tls: Option<crate::tls::HubTls>,
    /// Per partner, why the last delivery attempt failed (cleared on success).
    pub delivery_errors: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
    /// The credentials the API accepts.
    pub access: crate::auth::Access,
    /// Reads of personal data and administrative actions (`<data_dir>/audit.log`).
    pub audit: Arc<crate::audit::AuditLog>,
    /// The removal-order list, keyed by the matcher in use; replaced with the
    /// plugins at a reload.
    removal_list: std::sync::RwLock<Option<Arc<crate::removal::RemovalList>>>,
    /// What `/metrics` and `/readyz` report beyond the store's counters.
    pub metrics: crate::metrics::Metrics,
    /// The totals sampled over the last hour, for the status's throughput.
    pub throughput: crate::throughput::History,
    /// Per partner: one delivery attempt or operator action on its outbox
    /// at a time, and a wake-up for its bundler after an operator action.
    partner_exchange: std::collections::BTreeMap<String, (std::sync::Mutex<()>, Notify)>,
}

/// Loads everything a hub needs except its store: keys and plugins (each
/// instantiated and configured). `check-config` runs this; so does start-up.
fn load(settings: &Settings) -> Result<(Signer, Keyring, Plugins), HubError> {
    load_unlocated(settings).map_err(|e| e.about_files(settings))
}

fn load_unlocated(settings: &Settings) -> Result<(Signer, Keyring, Plugins), HubError> {
    let signer = Signer::new(keys::load_signing_key(&settings.signing_key)?);
    let mut partner_keys = Keyring::default();
    for p in &settings.partners {
        partner_keys.add(&p.id, keys::load_public_key(&p.public_key)?);
        for (path, until) in &p.previous_keys {
            partner_keys.add_until(&p.id, keys::load_public_key(path)?, Some(*until));
        }
    }
    let partner_urls = crate::tls::partner_client_configs(settings)?;
    let trust = Trust::load(&settings.plugin_trust)?;
    // A plugin that refuses its `config` table is that table's problem;
    // any other failure to load is its `component`'s.
    let plugin = |kind: &'static str| {
        move |e: PluginError| {
            let key = match e {
                PluginError::Configure { .. } => format!("plugins.{kind}.config"),
                _ => format!("plugins.{kind}.component"),
            };
            HubError::at(key, e)
        }
    };
    let mut partner_eligibility = Vec::new();
    for (i, p) in settings.partners.iter().enumerate() {
        let Some(own) = &p.eligibility else { continue };
        let plugin = Eligibility::load(own, &trust, Vec::new())
            .map_err(|e| {
                let key = match e {
                    PluginError::Configure { .. } => format!("partner[{i}].eligibility.config"),
                    _ => format!("partner[{i}].eligibility.component"),
                };
                HubError::at(key, e)
            })?
            .named(format!("{} (for {})", plugin_name(own), p.id));
        partner_eligibility.push((p.id.clone(), Arc::new(plugin)));
    }
    let plugins = Plugins {
        partner_eligibility,
        normaliser: Arc::new(
            Normaliser::load(&settings.normaliser, &trust, Vec::new())
                .map_err(plugin("normaliser"))?,
        ),
        eligibility: Arc::new(
            Eligibility::load(&settings.eligibility, &trust, Vec::new())
                .map_err(plugin("eligibility"))?,
        ),
        matcher: Arc::new(
            Matcher::load(&settings.matcher, &trust, Vec::new()).map_err(plugin("matcher"))?,
        ),
        transport: Arc::new(
            Transport::load_for_partners(&settings.transport, &trust, partner_urls)
                .map_err(plugin("transport"))?,
        ),
    };
    Ok((signer, partner_keys, plugins))
}

/// A plugin's name as its settings give it: the built-in's, or the file's.
fn plugin_name(settings: &crate::config::PluginSettings) -> String {
    match &settings.source {
        crate::config::PluginSource::Builtin(name) => name.clone(),
        crate::config::PluginSource::File(path) => path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        ),
    }
}

/// The settings a reload cannot apply that differ between `now` and
/// `fresh`, named by their keys. A reload swaps plugins, their trust,
/// partners' public keys and the removal-order list; the rest lives in the
/// server, the store and the workers started with the hub (its identity,
/// listener, data, TLS pins, partner list and URLs, access, limits). Half
/// applying them is how a reload once left the transport posting to new
/// URLs while the hub expected the old ones.
fn needs_restart(now: &Settings, fresh: &Settings) -> Vec<String> {
    let mut changed = Vec::new();
    let mut differ = |key: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
        if format!("{a:?}") != format!("{b:?}") {
            changed.push(key.to_owned());
        }
    };
    differ("hub.id", &now.hub_id, &fresh.hub_id);
    differ("hub.listen", &now.listen, &fresh.listen);
    differ("hub.data_dir", &now.data_dir, &fresh.data_dir);
    differ("hub.signing_key", &now.signing_key, &fresh.signing_key);
    differ(
        "hub.max_batch_bytes",
        &now.max_batch_bytes,
        &fresh.max_batch_bytes,
    );
    differ("hub.tls_cert / hub.tls_key", &now.tls, &fresh.tls);
    differ(
        "hub.allow_plain_http",
        &now.allow_plain_http,
        &fresh.allow_plain_http,
    );
    differ("[exchange]", &now.exchange, &fresh.exchange);
    differ("[matching]", &now.matching, &fresh.matching);
    differ("[access]", &now.access, &fresh.access);
    differ("[retention]", &now.retention, &fresh.retention);
    let ids = |s: &Settings| s.partners.iter().map(|p| p.id.clone()).collect::<Vec<_>>();
    differ("the [[partner]] list", &ids(now), &ids(fresh));
    for (i, (a, b)) in now.partners.iter().zip(&fresh.partners).enumerate() {
        differ(&format!("partner[{i}].url"), &a.url, &b.url);
        differ(&format!("partner[{i}].tls_cert"), &a.tls_cert, &b.tls_cert);
        differ(
            &format!("partner[{i}].max_queue_records"),
            &a.max_queue_records,
            &b.max_queue_records,
        );
    }
    changed
}

/// Checks that a hub could start with these settings, without touching its data.
pub fn check(settings: &Settings) -> Result<(), HubError> {
    crate::tls::HubTls::load(settings).map_err(|e| HubError::from(e).about_files(settings))?;
    access(settings)?;
    let (_, _, plugins) = load(settings)?;
    crate::removal::load_configured(settings.removal_orders.as_deref(), &plugins.matcher)?;
    Ok(())
}

fn access(settings: &Settings) -> Result<crate::auth::Access, HubError> {
    let a = &settings.access;
    if a.allow_anonymous {
        tracing::warn!(
            "ANONYMOUS ACCESS: requests without a credential get every role ([access] allow_anonymous = true); for local development only"
        );
    }
    crate::auth::Access::load(&a.tokens, &a.client_certs, a.allow_anonymous).map_err(|e| {
        // Point at the certificate of the entry named in the error.
        let crate::auth::AccessError::Cert { name, .. } = &e;
        match a.client_certs.iter().position(|c| &c.name == name) {
            Some(i) => HubError::at(format!("access.client_cert[{i}].cert"), e),
            None => e.into(),
        }
    })
}

impl Core {
    pub fn open(settings: Settings) -> Result<Core, HubError> {
        crate::plugins::set_compiled_cache(settings.data_dir.join("compiled"));
        crate::plugins::set_max_stack(settings.plugin_trust.max_stack_kib);
        let (signer, partner_keys, plugins) = load(&settings)?;
        let tls = crate::tls::HubTls::load(&settings)
            .map_err(|e| HubError::from(e).about_files(&settings))?;
        std::fs::create_dir_all(&settings.data_dir).map_err(|source| {
            let path = settings.data_dir.clone();
            HubError::at("hub.data_dir", HubError::Dir { path, source })
        })?;
        let access = access(&settings)?;
        let audit = Arc::new(crate::audit::AuditLog::open(
            &settings.data_dir.join("audit.log"),
        )?);
        let store_dir = settings.data_dir.join("store");
        let store = Store::open(&store_dir).map_err(|source| {
            HubError::at(
                "hub.data_dir",
                HubError::Store {
                    path: store_dir,
                    source,
                },
            )
        })?;
        // The index follows the matcher: another one than it was built with
        // opens a generation that `reindex` fills while the old one serves.
        let adopted = store
            .adopt_matcher(plugins.matcher.identity())
            .map_err(|source| HubError::Store {
                path: settings.data_dir.join("store"),
                source,
            })?;
        if adopted == crate::store::Adopted::Rebuilding {
            tracing::warn!(
                matcher = plugins.matcher.name(),
                "the matcher differs from the one the matching index was built with: rebuilding it in the background (see the status's `index`)"
            );
        }
        let removal_list =
            crate::removal::load_configured(settings.removal_orders.as_deref(), &plugins.matcher)?;
        if let Some(list) = &removal_list {
            let partners: Vec<String> = settings.partners.iter().map(|p| p.id.clone()).collect();
            adopt_removal_list(&store, list, &partners).map_err(|source| HubError::Store {
                path: settings.data_dir.join("store"),
                source,
            })?;
        }
        let partner_ids: Vec<String> = settings.partners.iter().map(|p| p.id.clone()).collect();
        Ok(Core {
            partner_exchange: partner_ids
                .iter()
                .map(|p| (p.clone(), (std::sync::Mutex::new(()), Notify::new())))
                .collect(),
            partner_ids,
            settings,
            store,
            plugins: std::sync::RwLock::new(Arc::new(plugins)),
            signer,
            partner_keys: std::sync::RwLock::new(Arc::new(partner_keys)),
            outbox_ready: Notify::new(),
            inbox_ready: Notify::new(),
            ingest_lock: std::sync::Mutex::new(()),
            tls,
            delivery_errors: Default::default(),
            access,
            audit,
            removal_list: std::sync::RwLock::new(removal_list.map(Arc::new)),
            metrics: Default::default(),
            throughput: Default::default(),
        })
    }

    /// The partners' public keys in use. Take one snapshot per message.
    pub fn partner_keys(&self) -> Arc<Keyring> {
        self.partner_keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The removal-order list in use, if the hub has one.
    pub fn removal_list(&self) -> Option<Arc<crate::removal::RemovalList>> {
        self.removal_list
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The current plugins. Take one snapshot per unit of work.
    pub fn plugins(&self) -> Arc<Plugins> {
        self.plugins
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Loads the plugins named in the configuration file again, runs them on
    /// recent records (the canary), and swaps them in only if all of them load
    /// and none fails on the canary. Work in flight finishes on the old set.
    pub fn reload_plugins(&self) -> Result<ReloadReport, HubError> {
        let path =
            self.settings.source.clone().ok_or_else(|| {
                HubError::Reload("these settings did not come from a file".into())
            })?;
        let fresh = Settings::load(&path).map_err(|e| HubError::Reload(e.to_string()))?;
        let restart = needs_restart(&self.settings, &fresh);
        if !restart.is_empty() {
            return Err(HubError::Reload(format!(
                "{} changed, which a reload cannot apply: restart the hub for that (a reload applies plugins, their trust, partners' public keys and the removal-order list); nothing was changed",
                restart.join(", ")
            )));
        }
        let (_, fresh_keys, candidate) = load(&fresh)?;
        let canary = canary(self, &candidate)?;
        if let Some(failure) = canary.failures.first() {
            return Err(HubError::Reload(format!(
                "the canary failed on {} of {} recent records, keeping the current plugins: {failure}",
                canary.failures.len(),
                canary.records
            )));
        }
        // The list is read again with the plugins (its keys are the new
        // matcher's); a bad list refuses the whole reload.
        let removal_list =
            crate::removal::load_configured(fresh.removal_orders.as_deref(), &candidate.matcher)
                .map_err(|e| {
                    HubError::Reload(format!("{e}; keeping the current plugins and list"))
                })?;
        let report = ReloadReport {
            plugins: candidate.names(),
            canary_records: canary.records,
            decisions_changed: canary.decisions_changed,
            removal_order_rows: removal_list.as_ref().map(|l| l.persons.len()),
        };
        if let Some(list) = &removal_list {
            adopt_removal_list(&self.store, list, &self.partner_ids).map_err(|e| {
                HubError::Reload(format!("cannot record the removal-order list: {e}"))
            })?;
        }
        {
            // Swapped together: no work sees the new plugins with old keys.
            let mut plugins = self.plugins.write().unwrap_or_else(|e| e.into_inner());
            let mut keys = self.partner_keys.write().unwrap_or_else(|e| e.into_inner());
            *plugins = Arc::new(candidate);
            *keys = Arc::new(fresh_keys);
        }
        *self.removal_list.write().unwrap_or_else(|e| e.into_inner()) = removal_list.map(Arc::new);
        let adopted = {
            let _serial = self.ingest_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.store.adopt_matcher(self.plugins().matcher.identity())
        }
        .map_err(|e| HubError::Reload(format!("the plugins are swapped in, but the matching index cannot follow the new matcher: {e}")))?;
        if adopted == crate::store::Adopted::Rebuilding {
            tracing::warn!(
                "the new matcher keys records differently: rebuilding the matching index in the background"
            );
        }
        tracing::info!(plugins = ?report.plugins, canary_records = report.canary_records, "plugins reloaded");
        Ok(report)
    }

    /// Held for one delivery attempt to `partner`, or one operator action on
    /// its outbox: the two never interleave.
    pub fn delivery_lock(&self, partner: &str) -> std::sync::MutexGuard<'_, ()> {
        self.partner_exchange[partner]
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes `partner`'s bundler from its back-off (after an operator action).
    pub fn retry_now(&self, partner: &str) -> &Notify {
        &self.partner_exchange[partner].1
    }

    /// Sets aside entries `partner` refused for good (`Store::set_aside`),
    /// between two delivery attempts, and has the bundler try again at once.
    pub fn set_aside(
        &self,
        partner: &str,
        seqs: &[u64],
    ) -> Result<Vec<crate::store::SetAside>, HubError> {
        if !self.partner_exchange.contains_key(partner) {
            return Err(HubError::UnknownPartner(partner.to_owned()));
        }
        let outcome = {
            let _between_attempts = self.delivery_lock(partner);
            self.store
                .set_aside(partner, seqs)
                .and_then(|o| self.store.flush().map(|()| o))
                .map_err(|source| HubError::Store {
                    path: self.settings.data_dir.join("store"),
                    source,
                })?
        };
        tracing::warn!(%partner, ?outcome, "entries set aside by an operator");
        self.retry_now(partner).notify_one();
        Ok(outcome)
    }

    /// Records the outcome of a delivery attempt to `partner` for the status.
    pub fn note_delivery(&self, partner: &str, error: Option<String>) {
        self.metrics.delivery_attempt(partner, error.as_deref());
        let mut errors = self
            .delivery_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match error {
            Some(why) => errors.insert(partner.to_owned(), why),
            None => errors.remove(partner),
        };
    }

    /// Records that may wait for `partner` before source batches are
    /// refused: its own `max_queue_records`, else `[exchange]`'s.
    pub fn queue_capacity(&self, partner: &str) -> u64 {
        self.settings
            .partners
            .iter()
            .find(|p| p.id == partner)
            .and_then(|p| p.max_queue_records)
            .unwrap_or(self.settings.exchange.max_queue_records)
    }

    /// Where sent bundles and their receipts are also written as files, so a
    /// partner or auditor can run `entrex verify` on them.
    pub fn evidence_dir(&self) -> PathBuf {
        self.settings.data_dir.join("evidence")
    }
}

/// A started hub. Dropping it does not stop it; call [`Hub::shutdown`].
pub struct Hub {
    pub core: Arc<Core>,
    pub addr: std::net::SocketAddr,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Hub {
    /// Opens the hub and serves on `listener` until [`Hub::shutdown`].
    pub async fn start(settings: Settings, listener: TcpListener) -> Result<Hub, HubError> {
        let core = tokio::task::spawn_blocking(move || Core::open(settings))
            .await
            .expect("hub start-up panicked")?;
        let core = Arc::new(core);
        let addr = listener.local_addr().map_err(|source| HubError::Listen {
            addr: core.settings.listen,
            source,
        })?;
        if let Some(warning) = crate::tls::plain_http_warning(&core.settings) {
            tracing::warn!("{warning}");
        }
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tasks.spawn(crate::api::serve(core.clone(), listener, stopped.clone()));
        tasks.spawn(crate::retention::run_purger(core.clone(), stopped.clone()));
        tasks.spawn(crate::audit::run_summaries(
            core.audit.clone(),
            stopped.clone(),
        ));
        tasks.spawn(crate::throughput::run_sampler(
            core.clone(),
            stopped.clone(),
        ));
        tasks.spawn(crate::reindex::run_reindexer(core.clone(), stopped.clone()));
        for partner in core.partner_ids.clone() {
            tasks.spawn(crate::exchange::run_bundler(
                core.clone(),
                partner.clone(),
                stopped.clone(),
            ));
            tasks.spawn(crate::matching::run_matcher(
                core.clone(),
                partner.clone(),
                stopped.clone(),
            ));
            tasks.spawn(crate::removal::run_screen(
                core.clone(),
                partner,
                stopped.clone(),
            ));
        }
        let scheme = if core.tls.is_some() {
            "https, mutual TLS"
        } else {
            "plain http"
        };
        tracing::info!(hub = %core.settings.hub_id, %addr, scheme, "hub started");
        Ok(Hub {
            core,
            addr,
            stop,
            tasks,
        })
    }

    /// Binds the configured address and runs until Ctrl-C or SIGTERM.
    pub async fn serve(settings: Settings) -> Result<(), HubError> {
        let addr = settings.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| HubError::at("hub.listen", HubError::Listen { addr, source }))?;
        let hub = Hub::start(settings, listener).await?;
        #[cfg(unix)]
        {
            let core = hub.core.clone();
            let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .expect("cannot install the SIGHUP handler");
            tokio::spawn(async move {
                while hangup.recv().await.is_some() {
                    let core = core.clone();
                    match tokio::task::spawn_blocking(move || core.reload_plugins()).await {
                        Ok(Ok(report)) => tracing::info!(?report, "SIGHUP: plugins reloaded"),
                        Ok(Err(e)) => tracing::error!("SIGHUP: {e}"),
                        Err(e) => tracing::error!("SIGHUP: reload task failed: {e}"),
                    }
                }
            });
        }
        let core = hub.core.clone();
        let durability_lost = async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                // A flush surfaces a write sled failed in the background or
                // in a transaction (its IO errors are sticky: every later
                // operation fails too), and then stops acknowledgements.
                let store = core.clone();
                let _ = tokio::task::spawn_blocking(move || store.store.flush()).await;
                if let Some(why) = core.store.durability_lost() {
                    return why;
                }
            }
        };
        tokio::select! {
            _ = shutdown_signal() => {
                tracing::info!("shutting down: finishing work in flight");
                hub.shutdown().await;
                Ok(())
            }
            // Fail-stop: a hub that cannot make writes durable answers 503
            // to whatever needs a durable write, then exits so that it is
            // started again and recovers (see `store::GroupCommit`).
            why = durability_lost => {
                tracing::error!("stopping: the store lost durability: {why}");
                hub.shutdown().await;
                Err(HubError::DurabilityLost(why))
            }
        }
    }

    /// A client for this hub's API that pins the hub's certificate and
    /// presents it as its own: the roles `[[access.client_cert]]` grants the
    /// hub's certificate (the demo grants source, analyst and operator).
    pub fn client(&self) -> crate::client::Client {
        self.client_with(self.core.tls.as_ref().map(|t| t.identity.clone()))
    }

    /// A client that pins the hub's certificate and presents none.
    pub fn anonymous_client(&self) -> crate::client::Client {
        self.client_with(None)
    }

    /// A client for this hub's API that presents `partner`'s certificate,
    /// as `partner` does when it delivers bundles here.
    pub fn client_as(&self, partner: &Hub) -> crate::client::Client {
        self.client_with(partner.core.tls.as_ref().map(|t| t.identity.clone()))
    }

    fn client_with(&self, identity: Option<crate::tls::Identity>) -> crate::client::Client {
        match &self.core.tls {
            Some(tls) => crate::client::Client::pinned(
                format!("https://{}", self.addr),
                tls.identity.certificate().clone(),
                identity.as_ref(),
            )
            .expect("a configuration this hub serves with also works for a client"),
            None => crate::client::Client::new(format!("http://{}", self.addr)),
        }
    }

    /// Stops accepting work, lets the workers finish what they hold, flushes.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        let core = self.core.clone();
        let _ = tokio::task::spawn_blocking(move || {
            // Refusals counted since the last summary, now that no request
            // can add to them.
            if let Err(e) = core.audit.write_summary() {
                tracing::error!("cannot write the summary of refused requests: {e}");
            }
            // The head no status will publish any more, for `entrex audit
            // verify --head`.
            let head = core.audit.head();
            tracing::info!(entries = head.entries, hash = %head.hash, "audit log head at shutdown");
            core.store.flush()
        })
        .await;
    }
}

/// Makes `list` the one screened with; a list that differs from the last one
/// screens every received record again.
fn adopt_removal_list(
    store: &Store,
    list: &crate::removal::RemovalList,
    partners: &[String],
) -> Result<(), StoreError> {
    let changed = store.adopt_removal_list(&list.sha256, partners)?;
    if changed {
        tracing::info!(file = %list.file.display(), rows = list.persons.len(), orders = list.orders(), "removal-order list loaded; screening every received record against it");
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("cannot install the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
