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

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error("cannot open the store in {path}: {source}")]
    Store { path: PathBuf, source: StoreError },
    #[error("cannot create {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

pub struct Plugins {
    pub normaliser: Normaliser,
    pub eligibility: Eligibility,
    pub matcher: Matcher,
    pub transport: Transport,
}

/// Everything the API handlers and workers share.
pub struct Core {
    pub settings: Settings,
    pub store: Store,
    pub plugins: Plugins,
    pub signer: Signer,
    /// Partner keys, each owned by its partner's hub id.
    pub partner_keys: Keyring,
    pub partner_ids: Vec<String>,
    /// Wakes the bundlers when records are queued.
    pub outbox_ready: Notify,
    /// Wakes the matchers when records arrive.
    pub inbox_ready: Notify,
    /// Serialises ingest transactions: concurrent ones would conflict on the
    /// counters and sled would rerun their closures.
    pub ingest_lock: std::sync::Mutex<()>,
}

/// Loads everything a hub needs except its store: keys and plugins (each
/// instantiated and configured). `check-config` runs this; so does start-up.
fn load(settings: &Settings) -> Result<(Signer, Keyring, Plugins), HubError> {
    let signer = Signer::new(keys::load_signing_key(&settings.signing_key)?);
    let mut partner_keys = Keyring::default();
    for p in &settings.partners {
        partner_keys.add(&p.id, keys::load_public_key(&p.public_key)?);
    }
    let partner_urls: Vec<String> = settings.partners.iter().map(|p| p.url.clone()).collect();
    let trust = Trust::load(&settings.plugin_trust)?;
    let plugins = Plugins {
        normaliser: Normaliser::load(&settings.normaliser, &trust, Vec::new())?,
        eligibility: Eligibility::load(&settings.eligibility, &trust, Vec::new())?,
        matcher: Matcher::load(&settings.matcher, &trust, Vec::new())?,
        transport: Transport::load(&settings.transport, &trust, partner_urls)?,
    };
    Ok((signer, partner_keys, plugins))
}

/// Checks that a hub could start with these settings, without touching its data.
pub fn check(settings: &Settings) -> Result<(), HubError> {
    load(settings).map(|_| ())
}

impl Core {
    pub fn open(settings: Settings) -> Result<Core, HubError> {
        let (signer, partner_keys, plugins) = load(&settings)?;
        std::fs::create_dir_all(&settings.data_dir).map_err(|source| HubError::Dir {
            path: settings.data_dir.clone(),
            source,
        })?;
        let store_dir = settings.data_dir.join("store");
        let store = Store::open(&store_dir).map_err(|source| HubError::Store {
            path: store_dir,
            source,
        })?;
        Ok(Core {
            partner_ids: settings.partners.iter().map(|p| p.id.clone()).collect(),
            settings,
            store,
            plugins,
            signer,
            partner_keys,
            outbox_ready: Notify::new(),
            inbox_ready: Notify::new(),
            ingest_lock: std::sync::Mutex::new(()),
        })
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
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tasks.spawn(crate::api::serve(core.clone(), listener, stopped.clone()));
        for partner in core.partner_ids.clone() {
            tasks.spawn(crate::exchange::run_bundler(
                core.clone(),
                partner.clone(),
                stopped.clone(),
            ));
            tasks.spawn(crate::matching::run_matcher(
                core.clone(),
                partner,
                stopped.clone(),
            ));
        }
        tracing::info!(hub = %core.settings.hub_id, %addr, "hub started");
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
            .map_err(|source| HubError::Listen { addr, source })?;
        let hub = Hub::start(settings, listener).await?;
        shutdown_signal().await;
        tracing::info!("shutting down: finishing work in flight");
        hub.shutdown().await;
        Ok(())
    }

    /// Stops accepting work, lets the workers finish what they hold, flushes.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        let core = self.core.clone();
        let _ = tokio::task::spawn_blocking(move || core.store.flush()).await;
    }
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
