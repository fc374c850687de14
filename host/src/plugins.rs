//! The plugin runtime: loads WebAssembly components, links them with exactly
//! what their kind may use, and calls them in batches.
//!
//! Plugins have no ambient authority. Every plugin is linked with WASI over an
//! empty context — no preopened directories, no environment, no arguments, no
//! inherited stdio, TCP, UDP and name lookup disabled, a wall clock stuck at the
//! epoch — plus the `log` import. Only the transport plugin
//! is linked with `wasi:http/outgoing-handler`, and its requests reach only the
//! partner URLs in the configuration; any other request fails with
//! `HTTP-request-denied` before a connection is made.
//!
//! A call runs under a deadline (epoch interruption) and a memory cap. A trap
//! poisons the instance, so the instance is dropped and the next call gets a
//! fresh one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::config::{PluginSettings, PluginSource};
use crate::record;

mod cache;

mod bindings {
    pub mod normaliser {
        wasmtime::component::bindgen!({ world: "normaliser", path: "../wit" });
    }
    pub mod eligibility {
        wasmtime::component::bindgen!({
            world: "eligibility",
            path: "../wit",
            with: {
                "entrex:plugin/types": super::normaliser::entrex::plugin::types,
                "entrex:plugin/log": super::normaliser::entrex::plugin::log,
            },
        });
    }
    pub mod matcher {
        wasmtime::component::bindgen!({
            world: "matcher",
            path: "../wit",
            with: {
                "entrex:plugin/types": super::normaliser::entrex::plugin::types,
                "entrex:plugin/log": super::normaliser::entrex::plugin::log,
            },
        });
    }
    pub mod transport {
        wasmtime::component::bindgen!({
            world: "transport",
            path: "../wit",
            with: {
                "entrex:plugin/log": super::normaliser::entrex::plugin::log,
            },
        });
    }
}

use bindings::normaliser::entrex::plugin::{log as wit_log, types as wit};

/// The default plugins, built from `plugins/` by build.rs and embedded here.
pub static BUILTIN: &[(&str, &[u8])] = &[
    (
        "ca-normaliser",
        include_bytes!(env!("ENTREX_PLUGIN_CA_NORMALISER")),
    ),
    (
        "us-normaliser",
        include_bytes!(env!("ENTREX_PLUGIN_US_NORMALISER")),
    ),
    (
        "phase2-eligibility",
        include_bytes!(env!("ENTREX_PLUGIN_PHASE2_ELIGIBILITY")),
    ),
    (
        "biographic-matcher",
        include_bytes!(env!("ENTREX_PLUGIN_BIOGRAPHIC_MATCHER")),
    ),
    (
        "https-transport",
        include_bytes!(env!("ENTREX_PLUGIN_HTTPS_TRANSPORT")),
    ),
];

const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Plugin instances alive at once in this process (idle ones included).
const MAX_LIVE_INSTANCES: u32 = 256;

/// The WIT package this hub implements, and the version prefix it accepts:
/// semver, where for 0.x versions the minor number is the breaking one.
pub const WIT_PACKAGE: &str = "entrex:plugin@0.1.0";
pub const WIT_COMPATIBLE: &str = "0.1";

/// The entrex:plugin versions a component names in its imports and exports
/// that this hub cannot serve (empty when all are compatible).
fn incompatible_versions(component: &Component) -> Vec<String> {
    let ty = component.component_type();
    let engine = engine();
    let names: Vec<String> = ty
        .imports(engine)
        .map(|(n, _)| n.to_owned())
        .chain(ty.exports(engine).map(|(n, _)| n.to_owned()))
        .collect();
    incompatible(&names)
}

fn incompatible(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = names
        .iter()
        .filter(|n| n.starts_with("entrex:plugin/"))
        .filter(|n| match n.split_once('@') {
            Some((_, version)) => {
                !(version == WIT_COMPATIBLE || version.starts_with(&format!("{WIT_COMPATIBLE}.")))
            }
            None => true,
        })
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}
/// A plugin's log line is cut here: logs must not become a side channel for bulk data.
const MAX_LOG_LINE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read plugin {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("plugin {plugin} is not a valid component: {detail}")]
    Compile { plugin: String, detail: String },
    #[error(
        "plugin {plugin} cannot be linked as a {kind} plugin: {detail}. A {kind} plugin may import only WASI (with no files, environment or sockets){http} and entrex:plugin/log"
    )]
    Link {
        plugin: String,
        kind: Kind,
        http: &'static str,
        detail: String,
    },
    #[error(
        "plugin {plugin} was built against {found}; this hub supports entrex:plugin@{WIT_COMPATIBLE}.x (any {WIT_COMPATIBLE}.y). Rebuild it against the wit/ directory of this hub's version"
    )]
    Incompatible { plugin: String, found: String },
    #[error("plugin {plugin} is not trusted: {detail}")]
    Untrusted { plugin: String, detail: String },
    #[error("plugin {plugin} could not be started: {detail}")]
    Instantiate { plugin: String, detail: String },
    #[error("plugin {plugin} refused its configuration: {message}")]
    Configure { plugin: String, message: String },
    #[error("plugin {plugin} failed: {detail}")]
    Trap { plugin: String, detail: String },
    #[error("plugin {plugin} broke its contract: {detail}")]
    Contract { plugin: String, detail: String },
}

impl PluginError {
    /// Whether the failure belongs to the call (and so perhaps to one record of
    /// it) rather than to the plugin as a whole.
    pub fn is_contained(&self) -> bool {
        matches!(
            self,
            PluginError::Trap { .. } | PluginError::Contract { .. }
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Normaliser,
    Eligibility,
    Matcher,
    Transport,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Normaliser => "normaliser",
            Kind::Eligibility => "eligibility",
            Kind::Matcher => "matcher",
            Kind::Transport => "transport",
        })
    }
}

/// What a plugin instance's store holds: its sandbox and nothing of the hub's.
pub struct State {
    plugin: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    http: WasiHttpCtx,
    hooks: PartnerOnly,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

// The types interface has no functions; its host side is empty.
impl wit::Host for State {}

impl wit_log::Host for State {
    fn log(&mut self, level: wit_log::Level, mut message: String) {
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let plugin = &*self.plugin;
        match level {
            wit_log::Level::Trace => tracing::trace!(plugin, "{message}"),
            wit_log::Level::Debug => tracing::debug!(plugin, "{message}"),
            wit_log::Level::Info => tracing::info!(plugin, "{message}"),
            wit_log::Level::Warn => tracing::warn!(plugin, "{message}"),
            wit_log::Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

/// The wall clock plugins see: always the Unix epoch. A plugin's answer must
/// depend on its input, not on when it runs; times it needs come in records.
struct NoWallClock;

impl wasmtime_wasi::HostWallClock for NoWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

/// Lets outgoing requests reach only the configured partner endpoint that the
/// current call is delivering to (URLs in `canonical_url` form); an https
/// request is carried out by the host over mutual TLS with that partner's
/// pinned certificate (`tls::send_pinned`).
#[derive(Clone, Default)]
struct PartnerOnly {
    destination: Option<Endpoint>,
}

/// A partner endpoint a transport plugin may reach: its URL (canonical form)
/// and, for https, the client configuration that pins the partner.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub url: String,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

type SendFuture = Box<
    dyn std::future::Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<wasmtime_wasi_http::WasiBody>,
                Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for PartnerOnly {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        drop(fut);
        let target = request.uri().to_string();
        let destination = self
            .destination
            .as_ref()
            .filter(|d| canonical_url(&target).as_ref() == Some(&d.url));
        let Some(destination) = destination else {
            tracing::warn!(%target, "plugin request to a destination that is not a configured partner endpoint was denied");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        };
        if request.uri().scheme() == Some(&http::uri::Scheme::HTTPS) {
            let Some(tls) = destination.tls.clone() else {
                tracing::warn!(%target, "https to a partner without a pinned certificate was denied");
                return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
            };
            return Box::new(crate::tls::send_pinned(request, options, tls));
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn std::future::Future<Output = _> + Send>,
            ))
        })
    }
}

/// A URL reduced to what decides where a request goes: lower-case scheme and
/// host, explicit port, path (at least `/`) and query. Redirects need no
/// special case: the plugin must issue a new request, which passes through here.
pub fn canonical_url(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let port = authority.port_u16().or(match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let path = if path.is_empty() { "/" } else { path };
    Some(format!(
        "{scheme}://{}:{port}{path}",
        authority.host().to_ascii_lowercase()
    ))
}

/// The WebAssembly stack per call: engine-wide, so set by the first hub that
/// opens in this process (from `[plugins] max_stack_kib`).
static MAX_STACK: OnceLock<usize> = OnceLock::new();

pub fn set_max_stack(kib: u64) {
    let _ = MAX_STACK.set((kib as usize) << 10);
}

/// The process-wide engine: compiled code is shared by every hub in the process.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        config.max_wasm_stack(*MAX_STACK.get_or_init(|| 512 << 10));
        // Instances come from preallocated slots (copy-on-write memory images),
        // so a fresh instance after a trap costs microseconds. The limits are
        // generous per instance (the store limiter enforces each plugin's
        // memory_mib) and bound how many instances can be live at once.
        let mut pool = wasmtime::PoolingAllocationConfig::new();
        pool.total_component_instances(MAX_LIVE_INSTANCES)
            .total_core_instances(MAX_LIVE_INSTANCES * 8)
            .total_memories(MAX_LIVE_INSTANCES * 2)
            .total_tables(MAX_LIVE_INSTANCES * 8)
            .total_stacks(MAX_LIVE_INSTANCES)
            .max_memory_size(4 << 30)
            .max_tables_per_module(8)
            .table_elements(1 << 20)
            .max_core_instance_size(16 << 20)
            .max_component_instance_size(16 << 20);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).expect("the wasmtime configuration is valid");
        let ticker = engine.clone();
        std::thread::Builder::new()
            .name("entrex-epoch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(EPOCH_TICK);
                    ticker.increment_epoch();
                }
            })
            .expect("cannot start the epoch thread");
        engine
    })
}

/// Compiles a component once per process, keyed by its hash.
fn compile(name: &str, bytes: &[u8]) -> Result<Component, PluginError> {
    static CACHE: OnceLock<Mutex<HashMap<Vec<u8>, Component>>> = OnceLock::new();
    let key = crate::bundle::sha256(bytes);
    let cache = CACHE.get_or_init(Default::default);
    if let Some(component) = cache.lock().unwrap().get(&key) {
        return Ok(component.clone());
    }
    let component = match load_compiled(&key) {
        Some(component) => component,
        None => {
            let component = Component::new(engine(), bytes).map_err(|e| PluginError::Compile {
                plugin: name.to_owned(),
                detail: format!("{e:#}"),
            })?;
            store_compiled(&key, &component);
            component
        }
    };
    cache.lock().unwrap().insert(key, component.clone());
    Ok(component)
}

/// Where compiled plugins are kept across restarts: set once per process by
/// the first hub that opens (`<data_dir>/compiled`).
static COMPILED_DIR: OnceLock<std::path::PathBuf> = OnceLock::new();

pub fn set_compiled_cache(dir: std::path::PathBuf) {
    let _ = COMPILED_DIR.set(dir);
}

/// The cache directory and a compiled component's file name in it: keyed by
/// the component's hash and by what makes compiled code compatible with this
/// engine (version, settings, CPU features).
fn compiled_location(component_sha256: &[u8]) -> Option<(&'static std::path::Path, String)> {
    use std::hash::{Hash, Hasher};
    let dir = COMPILED_DIR.get()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine().precompile_compatibility_hash().hash(&mut hasher);
    Some((
        dir,
        format!(
            "{}-{:016x}.cwasm",
            hex::encode(component_sha256),
            hasher.finish()
        ),
    ))
}

fn load_compiled(component_sha256: &[u8]) -> Option<Component> {
    let (dir, name) = compiled_location(component_sha256)?;
    let code = match cache::read(dir, &name) {
        Ok(code) => code?,
        Err(e) => {
            tracing::warn!("{e}");
            return None;
        }
    };
    // SAFETY: deserialising maps the bytes as executable code without
    // validating them, so they must be what this engine compiled for this
    // component. They are: `cache::read` returned them only after checking,
    // in memory (so the file cannot change after the check), their HMAC-SHA256
    // under the hub's secret cache key, which binds them to this file name
    // (the component's hash and the engine's compatibility hash); only
    // `store_compiled`, holding that secret, makes such a tag, and it tags
    // exactly what `Component::serialize` returned. Wasmtime also checks the
    // engine's version and settings in the bytes' header.
    match unsafe { Component::deserialize(engine(), &code) } {
        Ok(component) => Some(component),
        Err(e) => {
            tracing::warn!(
                path = %dir.join(&name).display(),
                "ignoring unusable compiled plugin: {e:#}"
            );
            None
        }
    }
}

fn store_compiled(component_sha256: &[u8], component: &Component) {
    let Some((dir, name)) = compiled_location(component_sha256) else {
        return;
    };
    let code = match component.serialize() {
        Ok(code) => code,
        Err(e) => {
            tracing::warn!("cannot serialise the compiled plugin {name}: {e:#}");
            return;
        }
    };
    if let Err(e) = cache::write(dir, &name, &code) {
        tracing::warn!("{e}");
    }
}

/// The keys whose plugin signatures the hub accepts, and whether it accepts
/// unsigned plugin files at all (development only).
pub struct Trust {
    keyring: crate::bundle::Keyring,
    allow_unsigned: bool,
    /// False only for `entrex plugin test`: testing a component is not
    /// installing it.
    check_signatures: bool,
}

impl Trust {
    pub fn load(settings: &crate::config::PluginTrust) -> Result<Trust, crate::keys::KeyError> {
        let mut keyring = crate::bundle::Keyring::default();
        for path in &settings.trusted_keys {
            let owner = path.display().to_string();
            keyring.add(&owner, crate::keys::load_public_key(path)?);
        }
        Ok(Trust {
            keyring,
            allow_unsigned: settings.allow_unsigned,
            check_signatures: true,
        })
    }

    /// Loads any component without looking at signatures: for running a
    /// plugin against fixtures, never for a hub.
    pub fn unchecked() -> Trust {
        Trust {
            keyring: crate::bundle::Keyring::default(),
            allow_unsigned: true,
            check_signatures: false,
        }
    }

    /// Checks `PATH.sig` against the component's bytes and the kind it is
    /// loaded as; returns the name and version it was signed with.
    fn check(
        &self,
        path: &std::path::Path,
        bytes: &[u8],
        kind: Kind,
    ) -> Result<String, PluginError> {
        let shown = path.display().to_string();
        if !self.check_signatures {
            return Ok(shown);
        }
        let untrusted = |detail: String| PluginError::Untrusted {
            plugin: shown.clone(),
            detail,
        };
        let sig_path = signature_path(path);
        let message = match std::fs::read(&sig_path) {
            Ok(m) => m,
            Err(_) if self.allow_unsigned => {
                tracing::warn!(plugin = %shown, "LOADING AN UNSIGNED PLUGIN: allow_unsigned = true is for development only; never run a hub like this in production");
                return Ok(shown.clone());
            }
            Err(e) => {
                return Err(untrusted(format!(
                    "cannot read its signature {} ({e}); sign it with `entrex plugin sign --key KEY --kind {kind} --version V {shown}` using a key listed in [plugins] trusted_keys, or set allow_unsigned = true under [plugins] for development",
                    sig_path.display()
                )));
            }
        };
        let (_, signature) = crate::bundle::open_plugin_signature(&message, &self.keyring)
            .map_err(|e| {
                untrusted(format!(
                    "its signature {} does not verify with [plugins] trusted_keys: {e}",
                    sig_path.display()
                ))
            })?;
        let actual = crate::bundle::sha256(bytes);
        if signature.component_sha256 != actual {
            return Err(untrusted(format!(
                "the component was changed after it was signed: its SHA-256 is {}, the signature covers {}",
                hex::encode(&actual),
                hex::encode(&signature.component_sha256)
            )));
        }
        if signature.kind != kind.to_string() {
            return Err(untrusted(format!(
                "it was signed as a {} plugin but is configured as the {kind}",
                signature.kind
            )));
        }
        Ok(format!("{}@{}", signature.name, signature.plugin_version))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Signs a plugin component: writes `COMPONENT.sig`, a COSE_Sign1 message over
/// the component's SHA-256, its name, version and kind. Returns the path written.
pub fn sign(
    key: &std::path::Path,
    component: &std::path::Path,
    name: &str,
    version: &str,
    kind: Kind,
) -> Result<std::path::PathBuf, SignError> {
    let signer = crate::bundle::Signer::new(crate::keys::load_signing_key(key)?);
    let bytes = std::fs::read(component).map_err(|source| SignError::Read {
        path: component.to_owned(),
        source,
    })?;
    // Refuse to vouch for something that is not a loadable component.
    Component::new(engine(), &bytes).map_err(|e| {
        SignError::Invalid(format!(
            "{} is not a WebAssembly component: {e:#}",
            component.display()
        ))
    })?;
    if name.is_empty() || version.is_empty() {
        return Err(SignError::Invalid(
            "--name and --version must not be empty".into(),
        ));
    }
    let signature = crate::bundle::seal_plugin_signature(
        &signer,
        &crate::bundle::PluginSignature {
            version: crate::bundle::PAYLOAD_VERSION,
            component_sha256: crate::bundle::sha256(&bytes),
            name: name.to_owned(),
            plugin_version: version.to_owned(),
            kind: kind.to_string(),
            signed_at: crate::exchange::now(),
        },
    );
    let path = signature_path(component);
    std::fs::write(&path, signature).map_err(|source| SignError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Where a plugin's detached signature lives: beside it, `NAME.wasm.sig`.
pub fn signature_path(component: &std::path::Path) -> std::path::PathBuf {
    let mut name = component.as_os_str().to_owned();
    name.push(".sig");
    std::path::PathBuf::from(name)
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        match s {
            "normaliser" => Ok(Kind::Normaliser),
            "eligibility" => Ok(Kind::Eligibility),
            "matcher" => Ok(Kind::Matcher),
            "transport" => Ok(Kind::Transport),
            other => Err(format!(
                "{other:?} is not a plugin kind; use normaliser, eligibility, matcher or transport"
            )),
        }
    }
}

/// A world's generated bindings, seen generically so one pool serves them all.
pub trait World: Sized + Send + 'static {
    const KIND: Kind;
    type Pre: Send + Sync;
    fn link(linker: &mut Linker<State>) -> wasmtime::Result<()>;
    fn pre(pre: wasmtime::component::InstancePre<State>) -> wasmtime::Result<Self::Pre>;
    fn instantiate(pre: &Self::Pre, store: &mut Store<State>) -> wasmtime::Result<Self>;
    fn configure(
        &self,
        store: &mut Store<State>,
        json: &str,
    ) -> wasmtime::Result<Result<(), String>>;
}

macro_rules! world {
    ($ty:ty, $pre:ty, $kind:expr, $configurable:ident, http: $http:expr) => {
        impl World for $ty {
            const KIND: Kind = $kind;
            type Pre = $pre;
            fn link(linker: &mut Linker<State>) -> wasmtime::Result<()> {
                wasmtime_wasi::p2::add_to_linker_sync(linker)?;
                if $http {
                    wasmtime_wasi_http::p2::add_only_http_to_linker_sync(linker)?;
                }
                <$ty>::add_to_linker::<_, HasSelf<_>>(linker, |s| s)
            }
            fn pre(pre: wasmtime::component::InstancePre<State>) -> wasmtime::Result<Self::Pre> {
                <$pre>::new(pre)
            }
            fn instantiate(pre: &Self::Pre, store: &mut Store<State>) -> wasmtime::Result<Self> {
                pre.instantiate(store)
            }
            fn configure(
                &self,
                store: &mut Store<State>,
                json: &str,
            ) -> wasmtime::Result<Result<(), String>> {
                self.$configurable().call_configure(store, json)
            }
        }
    };
}

use bindings::eligibility::{Eligibility as EligibilityWorld, EligibilityPre};
use bindings::matcher::{Matcher as MatcherWorld, MatcherPre};
use bindings::normaliser::{Normaliser as NormaliserWorld, NormaliserPre};
use bindings::transport::{Transport as TransportWorld, TransportPre};

world!(NormaliserWorld, NormaliserPre<State>, Kind::Normaliser, entrex_plugin_configurable, http: false);
world!(EligibilityWorld, EligibilityPre<State>, Kind::Eligibility, entrex_plugin_configurable, http: false);
world!(MatcherWorld, MatcherPre<State>, Kind::Matcher, entrex_plugin_configurable, http: false);
world!(TransportWorld, TransportPre<State>, Kind::Transport, entrex_plugin_configurable, http: true);

struct Instance<W> {
    store: Store<State>,
    world: W,
}

/// A loaded plugin of one kind, with a pool of idle, configured instances.
pub struct Plugin<W: World> {
    name: Arc<str>,
    pre: W::Pre,
    config_json: String,
    /// SHA-256 of the component and its configuration, hex: what the plugin
    /// computes is a function of these two (see [`Plugin::identity`]).
    identity: String,
    deadline_ticks: u64,
    memory_bytes: usize,
    max_output_bytes: usize,
    /// Partner endpoints a transport plugin may be asked to reach.
    endpoints: Vec<Endpoint>,
    idle: Mutex<Vec<Instance<W>>>,
    stats: Counters,
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    records: AtomicU64,
    rejections: AtomicU64,
    failures: AtomicU64,
    busy_ns: AtomicU64,
}

/// What one plugin has done since it was loaded.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PluginStats {
    pub plugin: String,
    pub kind: String,
    pub calls: u64,
    pub records: u64,
    /// Records a normaliser rejected, or an eligibility plugin withheld.
    pub rejections: u64,
    /// Calls that trapped, ran out of time or memory, or broke the contract.
    pub failures: u64,
    pub busy_ms: u64,
}

impl<W: World> Plugin<W> {
    /// Loads, links and configures a plugin; a plugin that cannot be
    /// instantiated or refuses its configuration is refused here, at start-up.
    pub fn load(
        settings: &PluginSettings,
        trust: &Trust,
        allowed_urls: Vec<String>,
    ) -> Result<Self, PluginError> {
        let endpoints = allowed_urls.into_iter().map(|url| (url, None)).collect();
        Self::load_for_partners(settings, trust, endpoints)
    }

    /// [`Plugin::load`] with, for each partner URL, the TLS client
    /// configuration that pins it (needed for https URLs).
    pub fn load_for_partners(
        settings: &PluginSettings,
        trust: &Trust,
        partners: crate::tls::PartnerEndpoints,
    ) -> Result<Self, PluginError> {
        let (name, bytes) = match &settings.source {
            PluginSource::Builtin(name) => {
                let bytes = BUILTIN
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, b)| b.to_vec())
                    .ok_or_else(|| PluginError::Compile {
                        plugin: name.clone(),
                        detail: "no such built-in plugin".into(),
                    })?;
                (name.clone(), bytes)
            }
            PluginSource::File(path) => {
                let bytes = std::fs::read(path).map_err(|source| PluginError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                (trust.check(path, &bytes, W::KIND)?, bytes)
            }
        };
        let component = compile(&name, &bytes)?;
        let wrong = incompatible_versions(&component);
        if !wrong.is_empty() {
            return Err(PluginError::Incompatible {
                plugin: name,
                found: wrong.join(", "),
            });
        }
        let mut linker = Linker::new(engine());
        W::link(&mut linker).expect("linking WASI and entrex interfaces cannot conflict");
        let link_error = |e: wasmtime::Error| PluginError::Link {
            plugin: name.clone(),
            kind: W::KIND,
            http: if W::KIND == Kind::Transport {
                ", wasi:http/outgoing-handler"
            } else {
                ""
            },
            detail: format!("{e:#}"),
        };
        let pre = linker.instantiate_pre(&component).map_err(link_error)?;
        let pre = W::pre(pre).map_err(link_error)?;
        let config_json = settings
            .configuration()
            .map_err(|message| PluginError::Configure {
                plugin: name.clone(),
                message,
            })?;
        let identity = {
            let mut both = crate::bundle::sha256(&bytes);
            both.extend_from_slice(config_json.as_bytes());
            hex::encode(crate::bundle::sha256(&both))
        };
        let plugin = Plugin {
            name: name.into(),
            pre,
            config_json,
            identity,
            deadline_ticks: (settings.deadline_ms / EPOCH_TICK.as_millis() as u64).max(1) + 1,
            memory_bytes: (settings.memory_mib as usize) << 20,
            max_output_bytes: (settings.max_output_kib as usize) << 10,
            endpoints: partners
                .into_iter()
                .filter_map(|(u, tls)| {
                    Some(Endpoint {
                        url: canonical_url(&u)?,
                        tls,
                    })
                })
                .collect(),
            idle: Mutex::new(Vec::new()),
            stats: Counters::default(),
        };
        // Instantiate once now so a bad plugin or configuration stops start-up.
        let instance = plugin.instantiate()?;
        plugin.idle.lock().unwrap().push(instance);
        Ok(plugin)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Names what the plugin computes: the same identity, the same outputs
    /// for the same inputs. The matching index is kept by the matcher's
    /// (its blocking keys come from the component and its model).
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The same plugin under another name (in logs, stats and quarantine
    /// reasons): a partner's own eligibility plugin is named for its partner.
    pub fn named(mut self, name: String) -> Self {
        self.name = name.into();
        // Instances carry the name they were made with: make them anew.
        self.idle
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self
    }

    pub fn stats(&self) -> PluginStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PluginStats {
            plugin: self.name.to_string(),
            kind: W::KIND.to_string(),
            calls: get(&self.stats.calls),
            records: get(&self.stats.records),
            rejections: get(&self.stats.rejections),
            failures: get(&self.stats.failures),
            busy_ms: get(&self.stats.busy_ns) / 1_000_000,
        }
    }

    fn instantiate(&self) -> Result<Instance<W>, PluginError> {
        let state = State {
            plugin: self.name.clone(),
            wasi: WasiCtx::builder()
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .wall_clock(NoWallClock)
                .build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            http: WasiHttpCtx::new(),
            hooks: PartnerOnly::default(),
        };
        let mut store = Store::new(engine(), state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(self.deadline_ticks);
        // A failure here belongs to the plugin (or to the pool), never to a
        // record: it must not be taken for a record's fault and quarantine it.
        let not_started = |e: wasmtime::Error| PluginError::Instantiate {
            plugin: self.name.to_string(),
            detail: format!("{e:#}"),
        };
        let world = W::instantiate(&self.pre, &mut store).map_err(not_started)?;
        match world
            .configure(&mut store, &self.config_json)
            .map_err(not_started)?
        {
            Ok(()) => Ok(Instance { store, world }),
            Err(message) => Err(PluginError::Configure {
                plugin: self.name.to_string(),
                message,
            }),
        }
    }

    fn trap(&self, e: wasmtime::Error) -> PluginError {
        let detail = match e.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => "deadline exceeded (the call ran too long)".into(),
            _ => format!("{e:#}"),
        };
        PluginError::Trap {
            plugin: self.name.to_string(),
            detail,
        }
    }

    /// Runs `f` on an idle instance (or a fresh one). After a trap the instance
    /// is dropped, never reused.
    fn call<R>(
        &self,
        records: usize,
        f: impl FnOnce(&W, &mut Store<State>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let idle = self.idle.lock().unwrap().pop();
        let mut instance = match idle {
            Some(instance) => instance,
            None => self.instantiate()?,
        };
        let started = std::time::Instant::now();
        instance.store.set_epoch_deadline(self.deadline_ticks);
        let result = f(&instance.world, &mut instance.store);
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        self.stats
            .records
            .fetch_add(records as u64, Ordering::Relaxed);
        self.stats
            .busy_ns
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        match result {
            Ok(result) => {
                self.idle.lock().unwrap().push(instance);
                Ok(result)
            }
            Err(e) => {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                Err(self.trap(e))
            }
        }
    }

    /// Refuses an output larger than the plugin's `max_output_kib`: the guest's
    /// memory cap bounds what is copied out, this bounds what goes further.
    fn expect_size(&self, what: &str, bytes: usize) -> Result<(), PluginError> {
        if bytes <= self.max_output_bytes {
            return Ok(());
        }
        self.stats.failures.fetch_add(1, Ordering::Relaxed);
        Err(PluginError::Contract {
            plugin: self.name.to_string(),
            detail: format!(
                "{what} returned {bytes} bytes, more than its max_output_kib ({} KiB)",
                self.max_output_bytes >> 10
            ),
        })
    }

    fn expect_len(&self, what: &str, got: usize, want: usize) -> Result<(), PluginError> {
        if got != want {
            self.stats.failures.fetch_add(1, Ordering::Relaxed);
        }
        if got == want {
            Ok(())
        } else {
            Err(PluginError::Contract {
                plugin: self.name.to_string(),
                detail: format!("{what} returned {got} results for {want} inputs"),
            })
        }
    }
}

pub type Normaliser = Plugin<NormaliserWorld>;
pub type Eligibility = Plugin<EligibilityWorld>;
pub type Matcher = Plugin<MatcherWorld>;
pub type Transport = Plugin<TransportWorld>;

/// One record cut out of a source batch.
pub struct SourceRecord {
    pub location: String,
    pub data: Vec<u8>,
}

impl Normaliser {
    /// Cuts a batch into records; `Ok(Err(_))` is the plugin refusing the batch.
    pub fn split(&self, batch: &[u8]) -> Result<Result<Vec<SourceRecord>, String>, PluginError> {
        let out = self.call(1, |w, s| w.entrex_plugin_normalise().call_split(s, batch))?;
        Ok(out.map(|records| {
            records
                .into_iter()
                .map(|r| SourceRecord {
                    location: r.location,
                    data: r.data,
                })
                .collect()
        }))
    }

    pub fn normalise(
        &self,
        records: &[SourceRecord],
    ) -> Result<Vec<Result<record::Crossing, record::Rejection>>, PluginError> {
        let input: Vec<wit::SourceRecord> = records
            .iter()
            .map(|r| wit::SourceRecord {
                location: r.location.clone(),
                data: r.data.clone(),
            })
            .collect();
        let out = self.call(input.len(), |w, s| {
            w.entrex_plugin_normalise().call_normalise(s, &input)
        })?;
        self.expect_len("normalise", out.len(), records.len())?;
        let bytes = out
            .iter()
            .map(|r| match r {
                Ok(c) => {
                    c.source_ref.len()
                        + c.given_names.len()
                        + c.middle_names.len()
                        + c.family_name.len()
                        + c.document_number.len()
                        + c.port_code.len()
                        + c.citizenships.iter().map(String::len).sum::<usize>()
                        + 64
                }
                Err(r) => r.reason.len() + r.field.as_ref().map_or(0, String::len),
            })
            .sum();
        self.expect_size("normalise", bytes)?;
        let rejected = out.iter().filter(|r| r.is_err()).count() as u64;
        self.stats.rejections.fetch_add(rejected, Ordering::Relaxed);
        Ok(out
            .into_iter()
            .map(|r| match r {
                Ok(c) => crossing_from_wit(c),
                Err(r) => Err(record::Rejection {
                    field: r.field,
                    reason: r.reason,
                }),
            })
            .collect())
    }
}

impl Eligibility {
    pub fn decide(
        &self,
        crossings: &[record::Crossing],
    ) -> Result<Vec<record::Decision>, PluginError> {
        use bindings::eligibility::exports::entrex::plugin::filter::Decision;
        let input: Vec<wit::Crossing> = crossings.iter().map(crossing_to_wit).collect();
        let out = self.call(input.len(), |w, s| {
            w.entrex_plugin_filter().call_decide(s, &input)
        })?;
        self.expect_len("decide", out.len(), crossings.len())?;
        let bytes = out
            .iter()
            .map(|d| match d {
                Decision::Share => 1,
                Decision::Withhold(reason) => reason.len() + 1,
            })
            .sum();
        self.expect_size("decide", bytes)?;
        let withheld = out
            .iter()
            .filter(|d| matches!(d, Decision::Withhold(_)))
            .count();
        self.stats
            .rejections
            .fetch_add(withheld as u64, Ordering::Relaxed);
        Ok(out
            .into_iter()
            .map(|d| match d {
                Decision::Share => record::Decision::Share,
                Decision::Withhold(reason) => record::Decision::Withhold(reason),
            })
            .collect())
    }
}

impl Matcher {
    pub fn block_keys(
        &self,
        records: &[record::SharedRecord],
    ) -> Result<Vec<Vec<String>>, PluginError> {
        let input: Vec<wit::SharedRecord> = records.iter().map(shared_to_wit).collect();
        let out = self.call(input.len(), |w, s| {
            w.entrex_plugin_matching().call_block_keys(s, &input)
        })?;
        self.expect_len("block-keys", out.len(), records.len())?;
        let bytes = out.iter().flatten().map(|k| k.len() + 8).sum();
        self.expect_size("block-keys", bytes)?;
        Ok(out)
    }

    pub fn score(
        &self,
        pairs: &[(&record::SharedRecord, &record::SharedRecord)],
    ) -> Result<Vec<f64>, PluginError> {
        use bindings::matcher::exports::entrex::plugin::matching::Candidate;
        let input: Vec<Candidate> = pairs
            .iter()
            .map(|(entry, exit)| Candidate {
                entry: shared_to_wit(entry),
                exit: shared_to_wit(exit),
            })
            .collect();
        let out = self.call(input.len(), |w, s| {
            w.entrex_plugin_matching().call_score(s, &input)
        })?;
        self.expect_len("score", out.len(), pairs.len())?;
        Ok(out
            .into_iter()
            .map(|s| {
                if s.is_finite() {
                    s.clamp(0.0, 1.0)
                } else {
                    0.0
                }
            })
            .collect())
    }
}

/// What became of one delivery attempt.
#[derive(Debug)]
pub enum Delivery {
    Receipt(Vec<u8>),
    Refused { status: u16, body: String },
    Retry(String),
}

impl Transport {
    /// Delivers a bundle; blocks, so call it from a blocking thread.
    pub fn send(&self, url: &str, bundle: &[u8]) -> Result<Delivery, PluginError> {
        use bindings::transport::exports::entrex::plugin::deliver::Outcome;
        let destination = canonical_url(url)
            .and_then(|u| self.endpoints.iter().find(|e| e.url == u))
            .cloned();
        if destination.is_none() {
            return Err(PluginError::Contract {
                plugin: self.name.to_string(),
                detail: format!("{url} is not a configured partner endpoint"),
            });
        }
        let out = self.call(1, |w, s| {
            s.data_mut().hooks.destination = destination;
            let out = w.entrex_plugin_deliver().call_send(&mut *s, url, bundle);
            s.data_mut().hooks.destination = None;
            out
        })?;
        Ok(match out {
            Outcome::Receipt(bytes) => Delivery::Receipt(bytes),
            Outcome::Refused((status, body)) => Delivery::Refused { status, body },
            Outcome::Retry(why) => Delivery::Retry(why),
        })
    }
}

fn crossing_from_wit(c: wit::Crossing) -> Result<record::Crossing, record::Rejection> {
    Ok(record::Crossing {
        source_ref: c.source_ref,
        given_names: c.given_names,
        middle_names: c.middle_names,
        family_name: c.family_name,
        date_of_birth: date_from_wit(c.date_of_birth),
        sex: sex_from_wit(c.sex),
        nationality: c.nationality,
        document_type: c.document_type,
        document_number: c.document_number,
        document_country: c.document_country,
        crossed_at: c.crossed_at,
        port_code: c.port_code,
        mode: match c.mode {
            wit::Mode::Vehicle => record::Mode::Vehicle,
            wit::Mode::Pedestrian => record::Mode::Pedestrian,
            wit::Mode::Ferry => record::Mode::Ferry,
            wit::Mode::Rail => record::Mode::Rail,
            wit::Mode::Bus => record::Mode::Bus,
            wit::Mode::Sea => record::Mode::Sea,
        },
        citizenships: c.citizenships,
        residency: c
            .residency
            .into_iter()
            .map(|r| match r {
                wit::Residency::CanadaPermanentResident => {
                    record::Residency::CanadaPermanentResident
                }
                wit::Residency::UsLawfulPermanentResident => {
                    record::Residency::UsLawfulPermanentResident
                }
            })
            .collect(),
        authorised_stay_until: c.authorised_stay_until,
    })
}

fn crossing_to_wit(c: &record::Crossing) -> wit::Crossing {
    wit::Crossing {
        source_ref: c.source_ref.clone(),
        given_names: c.given_names.clone(),
        middle_names: c.middle_names.clone(),
        family_name: c.family_name.clone(),
        date_of_birth: date_to_wit(c.date_of_birth),
        sex: sex_to_wit(c.sex),
        nationality: c.nationality.clone(),
        document_type: c.document_type.clone(),
        document_number: c.document_number.clone(),
        document_country: c.document_country.clone(),
        crossed_at: c.crossed_at,
        port_code: c.port_code.clone(),
        mode: match c.mode {
            record::Mode::Vehicle => wit::Mode::Vehicle,
            record::Mode::Pedestrian => wit::Mode::Pedestrian,
            record::Mode::Ferry => wit::Mode::Ferry,
            record::Mode::Rail => wit::Mode::Rail,
            record::Mode::Bus => wit::Mode::Bus,
            record::Mode::Sea => wit::Mode::Sea,
        },
        citizenships: c.citizenships.clone(),
        residency: c
            .residency
            .iter()
            .map(|r| match r {
                record::Residency::CanadaPermanentResident => {
                    wit::Residency::CanadaPermanentResident
                }
                record::Residency::UsLawfulPermanentResident => {
                    wit::Residency::UsLawfulPermanentResident
                }
            })
            .collect(),
        authorised_stay_until: c.authorised_stay_until,
    }
}

fn shared_to_wit(r: &record::SharedRecord) -> wit::SharedRecord {
    wit::SharedRecord {
        given_names: r.given_names.clone(),
        family_name: r.family_name.clone(),
        middle_names: r.middle_names.clone(),
        date_of_birth: date_to_wit(r.date_of_birth),
        nationality: r.nationality.clone(),
        sex: sex_to_wit(r.sex),
        document_type: r.document_type.clone(),
        document_number: r.document_number.clone(),
        document_country: r.document_country.clone(),
        entered_at: r.entered_at,
        port_code: r.port_code.clone(),
    }
}

fn date_from_wit(d: wit::PartialDate) -> record::PartialDate {
    record::PartialDate {
        year: d.year,
        month: d.month,
        day: d.day,
    }
}

fn date_to_wit(d: record::PartialDate) -> wit::PartialDate {
    wit::PartialDate {
        year: d.year,
        month: d.month,
        day: d.day,
    }
}

fn sex_from_wit(s: wit::Sex) -> record::Sex {
    match s {
        wit::Sex::Female => record::Sex::F,
        wit::Sex::Male => record::Sex::M,
        wit::Sex::Unspecified => record::Sex::X,
    }
}

fn sex_to_wit(s: record::Sex) -> wit::Sex {
    match s {
        record::Sex::F => wit::Sex::Female,
        record::Sex::M => wit::Sex::Male,
        record::Sex::X => wit::Sex::Unspecified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn compatible_versions_are_those_of_the_same_minor() {
        let ok = names(&[
            "entrex:plugin/log@0.1.0",
            "entrex:plugin/normalise@0.1.7",
            "wasi:cli/environment@0.2.6",
        ]);
        assert!(incompatible(&ok).is_empty());
        let newer = names(&["entrex:plugin/normalise@0.2.0", "entrex:plugin/log@0.1.0"]);
        assert_eq!(incompatible(&newer), ["entrex:plugin/normalise@0.2.0"]);
        let unversioned = names(&["entrex:plugin/normalise"]);
        assert_eq!(incompatible(&unversioned), ["entrex:plugin/normalise"]);
        assert_eq!(
            incompatible(&names(&["entrex:plugin/x@1.1.0"])),
            ["entrex:plugin/x@1.1.0"]
        );
    }

    #[test]
    fn a_partner_url_is_compared_by_where_it_goes() {
        let c = |u| canonical_url(u);
        assert_eq!(
            c("HTTP://Hub.Example:80/v1/partner/bundles"),
            c("http://hub.example/v1/partner/bundles")
        );
        assert_eq!(c("https://hub.example"), c("https://hub.example:443/"));
        assert_ne!(
            c("http://hub.example/v1/partner/bundles"),
            c("http://hub.example/v1/other")
        );
        assert_ne!(c("http://hub.example:8080/"), c("http://hub.example/"));
        assert_eq!(c("http://user@hub.example/"), None);
        assert_eq!(c("not a url"), None);
    }
}
