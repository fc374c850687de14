//! `entrex demo`: a Canadian and a US hub on loopback exchange a generated day
//! of crossings end to end — through their real HTTP APIs, real plugins, real
//! signatures — and the result is checked against the generator's ground truth.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::TcpListener;

use crate::client::{Client, ClientError};
use crate::config::{ConfigError, Settings};
use crate::generator::{self, Dataset, Noise, Truth};
use crate::hub::{Hub, HubError};
use crate::ingest::IngestReport;
use crate::keys::{self, KeyError};
use crate::store::StoreError;

const DAY: i64 = 86_400;
/// 2026-11-21T00:00:00Z: the generated day.
pub const DEMO_DAY_START: i64 = 1_795_219_200;
/// Source requests in flight per hub.
const IN_FLIGHT: usize = 2;
const SETTLE_TIMEOUT: Duration = Duration::from_secs(900);

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot prepare {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the exchange did not settle within {0:?}: {1}")]
    Timeout(Duration, String),
}

pub struct Options {
    pub trips: usize,
    pub seed: u64,
    pub noise: Noise,
    pub dir: Option<PathBuf>,
    /// Print progress lines on stderr.
    pub progress: bool,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub dir: PathBuf,
    pub trips: usize,
    pub seed: u64,
    pub seconds: f64,
    pub hubs: Vec<HubSummary>,
}

#[derive(Debug, Serialize)]
pub struct HubSummary {
    pub hub: String,
    pub config: PathBuf,
    pub public_key: PathBuf,
    pub evidence_dir: PathBuf,
    /// Source records posted to this hub.
    pub ingested: u64,
    pub rejected: u64,
    pub withheld_ineligible: u64,
    pub withheld_by_reason: std::collections::BTreeMap<String, u64>,
    pub sent: u64,
    pub bundles_sent: u64,
    pub received: u64,
    pub bundles_received: u64,
    /// Bundles this hub received, re-verified offline from the sender's
    /// evidence files with the sender's public key.
    pub bundles_verified_offline: u64,
    /// Received records that belong to a Canadian or US citizen (ground truth):
    /// must be zero.
    pub citizen_records_received: u64,
    /// Reconciliation of the exits received for the generated day.
    pub day_exits_received: u64,
    pub day_exits_reconciled: u64,
    pub day_reconciliation_rate: Option<f64>,
    /// Share of links that join the same person (ground truth).
    pub link_precision: Option<f64>,
}

impl Summary {
    /// The demo's own acceptance: nothing a citizen's, everything delivered,
    /// every bundle verified.
    pub fn passed(&self) -> bool {
        self.hubs.iter().all(|h| h.citizen_records_received == 0)
            && self
                .hubs
                .iter()
                .all(|h| h.bundles_verified_offline == h.bundles_received)
            && self.hubs.len() == 2
            && self.hubs[0].sent == self.hubs[1].received
            && self.hubs[1].sent == self.hubs[0].received
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "entrex demo: {} trips (seed {}), exchanged in {:.1} s\n",
            self.trips, self.seed, self.seconds
        );
        let row = |s: &mut String, label: &str, f: &dyn Fn(&HubSummary) -> String| {
            let _ = write!(s, "  {label:<44}");
            for h in &self.hubs {
                let _ = write!(s, "{:>14}", f(h));
            }
            s.push('\n');
        };
        row(&mut s, "", &|h| format!("{} hub", h.hub));
        row(&mut s, "source records ingested", &|h| {
            h.ingested.to_string()
        });
        row(&mut s, "  rejected (malformed, field named)", &|h| {
            h.rejected.to_string()
        });
        row(&mut s, "  withheld as ineligible", &|h| {
            h.withheld_ineligible.to_string()
        });
        row(&mut s, "records sent to the partner", &|h| {
            h.sent.to_string()
        });
        row(&mut s, "  in bundles (receipts verified)", &|h| {
            h.bundles_sent.to_string()
        });
        row(&mut s, "records received from the partner", &|h| {
            h.received.to_string()
        });
        row(&mut s, "  bundles received (signature verified)", &|h| {
            h.bundles_received.to_string()
        });
        row(&mut s, "  bundles re-verified offline", &|h| {
            h.bundles_verified_offline.to_string()
        });
        row(&mut s, "  citizen records received (must be 0)", &|h| {
            h.citizen_records_received.to_string()
        });
        row(&mut s, "exits received for the day", &|h| {
            h.day_exits_received.to_string()
        });
        row(&mut s, "  reconciled with an entry", &|h| {
            h.day_exits_reconciled.to_string()
        });
        row(&mut s, "  reconciliation rate", &|h| {
            percent(h.day_reconciliation_rate)
        });
        row(&mut s, "  link precision (ground truth)", &|h| {
            percent(h.link_precision)
        });
        let _ = writeln!(s, "\nwithheld by reason:");
        for h in &self.hubs {
            for (reason, n) in &h.withheld_by_reason {
                let _ = writeln!(s, "  {}: {reason}: {n}", h.hub);
            }
        }
        let _ = writeln!(
            s,
            "\nfiles (kept after the demo) in {}:",
            self.dir.display()
        );
        for h in &self.hubs {
            let _ = writeln!(s, "  {} config:     {}", h.hub, h.config.display());
            let _ = writeln!(s, "  {} public key: {}", h.hub, h.public_key.display());
            let _ = writeln!(
                s,
                "  {} evidence (to-PARTNER: bundles sent and receipts; from-PARTNER: bundles received and receipts given): {}",
                h.hub,
                h.evidence_dir.display()
            );
        }
        if let (Some(ca), Some(us)) = (self.hubs.first(), self.hubs.get(1)) {
            let _ = writeln!(
                s,
                "\ncheck them offline (every bundle and receipt, and each direction as a chain):\n  entrex verify {} {} --key {}={} --key {}={}",
                ca.evidence_dir.display(),
                us.evidence_dir.display(),
                ca.hub,
                ca.public_key.display(),
                us.hub,
                us.public_key.display()
            );
        }
        let _ = writeln!(s, "\n{}", if self.passed() { "PASS" } else { "FAIL" });
        s
    }
}

fn percent(x: Option<f64>) -> String {
    x.map(|x| format!("{:.2}%", x * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// Writes keys, TLS certificates and a config file for each hub under `dir`
/// (the hubs talk over mutual TLS, each pinning the other's certificate),
/// binds loopback listeners, and returns the settings, ready for [`Hub::start`].
pub async fn prepare_pair(dir: &Path) -> Result<Vec<(Settings, TcpListener, PathBuf)>, DemoError> {
    prepare_hubs(
        dir,
        &[
            HubPlan::new("CA", "ca-normaliser", &[PartnerPlan::new("US")]),
            HubPlan::new("US", "us-normaliser", &[PartnerPlan::new("CA")]),
        ],
    )
    .await
}

/// One hub of [`prepare_hubs`].
#[derive(Clone, Debug)]
pub struct HubPlan {
    pub id: String,
    /// The built-in normaliser its source systems' format needs.
    pub normaliser: String,
    pub partners: Vec<PartnerPlan>,
}

impl HubPlan {
    pub fn new(id: &str, normaliser: &str, partners: &[PartnerPlan]) -> HubPlan {
        HubPlan {
            id: id.to_owned(),
            normaliser: normaliser.to_owned(),
            partners: partners.to_vec(),
        }
    }
}

/// One partner of a hub in [`prepare_hubs`].
#[derive(Clone, Debug)]
pub struct PartnerPlan {
    pub id: String,
    /// TOML lines added to the `[[partner]]` table, e.g. `max_queue_records
    /// = 5000`, or a `[partner.eligibility]` table of its own.
    pub extra: String,
}

impl PartnerPlan {
    pub fn new(id: &str) -> PartnerPlan {
        PartnerPlan {
            id: id.to_owned(),
            extra: String::new(),
        }
    }

    pub fn with(mut self, toml: &str) -> PartnerPlan {
        self.extra.push_str(toml);
        self.extra.push('\n');
        self
    }
}

/// [`prepare_pair`] for any number of hubs, each with its own partners:
/// keys, TLS certificates and configs under `dir` (`ID.toml`, lower case),
/// each hub pinning each partner's certificate, on loopback listeners.
pub async fn prepare_hubs(
    dir: &Path,
    hubs: &[HubPlan],
) -> Result<Vec<(Settings, TcpListener, PathBuf)>, DemoError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| DemoError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let keys_dir = dir.join("keys");
    let mut listeners = Vec::new();
    for hub in hubs {
        let me = hub.id.to_ascii_lowercase();
        if !keys_dir.join(format!("{me}.key.pem")).exists() {
            keys::generate(&keys_dir, &me)?;
        }
        if !crate::tls::certificate_paths(&keys_dir, &me).0.exists() {
            crate::tls::generate(&keys_dir, &me, &[])?;
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(io(dir))?;
        let addr = listener.local_addr().map_err(io(dir))?;
        listeners.push((listener, addr));
    }
    let address = |id: &str| hubs.iter().position(|h| h.id == id).map(|i| listeners[i].1);
    let mut configs = Vec::new();
    for hub in hubs {
        let partners: Vec<(PartnerPlan, std::net::SocketAddr)> = hub
            .partners
            .iter()
            .map(|p| {
                // A partner not among `hubs` gets an address nobody listens on.
                let addr = address(&p.id).unwrap_or_else(|| "127.0.0.1:9".parse().unwrap());
                (p.clone(), addr)
            })
            .collect();
        let me = hub.id.to_ascii_lowercase();
        let addr = address(&hub.id).expect("every hub has a listener");
        configs.push((
            me.clone(),
            hub_config(&hub.id, &me, addr, &partners, &hub.normaliser),
        ));
    }
    let mut out = Vec::new();
    for ((me, text), (listener, _)) in configs.into_iter().zip(listeners) {
        let path = dir.join(format!("{me}.toml"));
        std::fs::write(&path, text).map_err(io(&path))?;
        out.push((Settings::load(&path)?, listener, path));
    }
    Ok(out)
}

fn hub_config(
    id: &str,
    me: &str,
    addr: std::net::SocketAddr,
    partners: &[(PartnerPlan, std::net::SocketAddr)],
    normaliser: &str,
) -> String {
    let mut text = format!(
        r#"# Written by `entrex demo`. Run this hub alone with: entrex serve --config {me}.toml
[hub]
id = "{id}"
listen = "{addr}"
data_dir = "{me}"
signing_key = "keys/{me}.key.pem"
tls_cert = "keys/{me}.cert.pem"
tls_key = "keys/{me}.tls.key.pem"

[plugins.normaliser]
component = "builtin:{normaliser}"

[plugins.eligibility]
component = "builtin:phase2-eligibility"
config = {{ ports = "*" }}

[plugins.matcher]
component = "builtin:biographic-matcher"

[plugins.transport]
component = "builtin:https-transport"

[exchange]
bundle_max_records = 2000
bundle_linger_ms = 50

# The demo's source systems, analysts and operators connect from this machine
# presenting the hub's own certificate; a real hub lists each party's own
# certificate or token (`entrex token`).
[[access.client_cert]]
name = "{me}-local-admin"
roles = ["source", "analyst", "operator"]
cert = "keys/{me}.cert.pem"
"#
    );
    for (partner, partner_addr) in partners {
        let id = &partner.id;
        let lower = id.to_ascii_lowercase();
        text.push_str(&format!(
            r#"
[[partner]]
id = "{id}"
url = "https://{partner_addr}/v1/partner/bundles"
public_key = "keys/{lower}.pub.pem"
tls_cert = "keys/{lower}.cert.pem"
{}"#,
            partner.extra
        ));
    }
    text
}

pub async fn run(options: Options) -> Result<Summary, DemoError> {
    let started = Instant::now();
    let dir = options.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "entrex-demo-{}-{}",
            std::process::id(),
            crate::exchange::now()
        ))
    });
    let say = |msg: String| {
        if options.progress {
            eprintln!("[{:>6.1}s] {msg}", started.elapsed().as_secs_f64());
        }
    };
    say(format!("preparing two hubs in {}", dir.display()));
    let prepared = prepare_pair(&dir).await?;
    let mut hubs = Vec::new();
    let mut configs = Vec::new();
    for (settings, listener, path) in prepared {
        hubs.push(Hub::start(settings, listener).await?);
        configs.push(path);
    }
    say(format!(
        "CA hub on {}, US hub on {}; generating {} trips",
        hubs[0].addr, hubs[1].addr, options.trips
    ));
    let config = generator::Config {
        seed: options.seed,
        trips: options.trips,
        day_start: DEMO_DAY_START,
        noise: options.noise,
        malformed_per_mille: 5,
        batch_records: 5_000,
    };
    let data: Dataset = tokio::task::spawn_blocking(move || generator::generate(&config))
        .await
        .expect("the generator does not panic");
    let ca = hubs[0].client();
    let us = hubs[1].client();

    say("posting the previous 30 days' entries (history) to both hubs".into());
    let (a, b) = tokio::join!(
        post_all(&ca, "text/csv", &data.history.ca),
        post_all(&us, "application/json", &data.history.us)
    );
    let (mut ca_ingest, mut us_ingest) = (a?, b?);
    say("posting the day's crossings to both hubs".into());
    let (a, b) = tokio::join!(
        post_all(&ca, "text/csv", &data.day.ca),
        post_all(&us, "application/json", &data.day.us)
    );
    add(&mut ca_ingest, a?);
    add(&mut us_ingest, b?);
    say("waiting for the exchange and matching to settle".into());
    settle(&[&ca, &us]).await?;
    say("checking against ground truth".into());

    let mut summaries = Vec::new();
    for (i, hub) in hubs.iter().enumerate() {
        let other = &hubs[1 - i];
        let ingest = if i == 0 { &ca_ingest } else { &us_ingest };
        summaries.push(summarise(hub, other, ingest, &configs[i], &dir, &data.truth).await?);
    }
    for hub in hubs {
        hub.shutdown().await;
    }
    Ok(Summary {
        dir,
        trips: options.trips,
        seed: options.seed,
        seconds: started.elapsed().as_secs_f64(),
        hubs: summaries,
    })
}

fn add(total: &mut IngestReport, more: IngestReport) {
    total.received += more.received;
    total.accepted += more.accepted;
    total.rejected += more.rejected;
    total.duplicates += more.duplicates;
    total.shared += more.shared;
    total.withheld += more.withheld;
    total.quarantined += more.quarantined;
    total.problems.extend(more.problems);
}

/// Posts batches with a few requests in flight, as a port's source system would.
pub async fn post_all(
    client: &Client,
    content_type: &str,
    batches: &[Vec<u8>],
) -> Result<IngestReport, ClientError> {
    use futures_util::StreamExt;
    let mut total = IngestReport::default();
    let mut results = futures_util::stream::iter(batches.iter().cloned())
        .map(|batch| client.post_crossings(content_type, batch))
        .buffer_unordered(IN_FLIGHT);
    while let Some(report) = results.next().await {
        add(&mut total, report?);
    }
    Ok(total)
}

/// Waits until every queued record is acknowledged and every received record
/// has been through matching, on every hub.
pub async fn settle(clients: &[&Client]) -> Result<(), DemoError> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let mut pending = Vec::new();
        for client in clients {
            let status = client.status().await?;
            for p in &status.partners {
                if p.backlog > 0 {
                    pending.push(format!(
                        "{}→{}: {} to send",
                        status.hub, p.partner, p.backlog
                    ));
                }
                if p.match_cursor < p.received_upto {
                    pending.push(format!(
                        "{}: {} from {} to match",
                        status.hub,
                        p.received_upto - p.match_cursor,
                        p.partner
                    ));
                }
                if let Some(screened) = p.removal_screened_upto
                    && screened < p.received_upto
                {
                    pending.push(format!(
                        "{}: {} from {} to screen against the removal-order list",
                        status.hub,
                        p.received_upto - screened,
                        p.partner
                    ));
                }
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(DemoError::Timeout(SETTLE_TIMEOUT, pending.join("; ")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn summarise(
    hub: &Hub,
    other: &Hub,
    ingest: &IngestReport,
    config: &Path,
    dir: &Path,
    truth: &Truth,
) -> Result<HubSummary, DemoError> {
    let core = hub.core.clone();
    let other_core = other.core.clone();
    let truth_ref = truth;
    let status = crate::report::status(&core)?;
    let partner = status.partners[0].partner.clone();
    let p = &status.partners[0];
    let report =
        crate::report::joint_report(&core, Some(DEMO_DAY_START), Some(DEMO_DAY_START + DAY))?;
    let day = &report.directions[0];

    // Ground truth, looked up by the shared elements only.
    let (mut citizen, mut links, mut correct) = (0, 0, 0);
    let mut next = 1;
    loop {
        let chunk = core.store.inbox_from(&partner, next, 4096)?;
        let Some(&(last, _)) = chunk.last() else {
            break;
        };
        for (seq, entry) in &chunk {
            let crate::record::Entry::Record(record) = entry else {
                continue;
            };
            let person =
                truth_ref.person_by_document(&record.document_country, &record.document_number);
            if person.is_some_and(|p| truth_ref.is_citizen(p)) {
                citizen += 1;
            }
            if let Some(m) = core.store.match_for(&partner, *seq)? {
                if m.band != crate::store::Band::Link {
                    continue;
                }
                links += 1;
                if let Some(entry) = core.store.crossing(m.entry_id)? {
                    let entry_person = truth_ref.person_by_document(
                        &entry.crossing.document_country,
                        &entry.crossing.document_number,
                    );
                    if entry_person.is_some() && entry_person == person {
                        correct += 1;
                    }
                }
            }
        }
        next = last + 1;
    }

    // Re-verify, offline, every bundle the partner sent us, from its evidence files.
    let evidence = other_core
        .evidence_dir()
        .join(format!("to-{}", core.settings.hub_id));
    let mut keyring = crate::bundle::Keyring::default();
    keyring.add(
        &partner,
        keys::load_public_key(&core.settings.partners[0].public_key)?,
    );
    let mut verified_offline = 0;
    if let Ok(entries) = std::fs::read_dir(&evidence) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with("bundle-") {
                continue;
            }
            if let Ok(bytes) = std::fs::read(entry.path())
                && crate::bundle::open_bundle(&bytes, &keyring).is_ok()
            {
                verified_offline += 1;
            }
        }
    }

    Ok(HubSummary {
        hub: status.hub.clone(),
        config: config.to_owned(),
        public_key: dir
            .join("keys")
            .join(format!("{}.pub.pem", status.hub.to_ascii_lowercase())),
        evidence_dir: core.evidence_dir(),
        ingested: ingest.received as u64,
        rejected: ingest.rejected as u64,
        withheld_ineligible: ingest.withheld as u64,
        withheld_by_reason: status.withheld_by_reason.clone(),
        sent: p.sent_upto,
        bundles_sent: p.bundles_sent,
        received: p.received_upto,
        bundles_received: p.bundles_received,
        bundles_verified_offline: verified_offline,
        citizen_records_received: citizen,
        day_exits_received: day.exit_records_received,
        day_exits_reconciled: day.exits_reconciled,
        day_reconciliation_rate: day.reconciliation_rate,
        link_precision: (links > 0).then(|| correct as f64 / links as f64),
    })
}
