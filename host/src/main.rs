//! The `entrex` command: argument parsing and messages for people; the work is
//! done by the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use entrex::{config::Settings, demo, generator, hub::Hub, keys, verify};

#[derive(Parser)]
#[command(
    name = "entrex",
    version,
    about = "Entry/Exit exchange appliance for border hubs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a Canadian and a US hub on loopback, feed each a generated day of
    /// crossings, exchange, match, and print a summary.
    Demo {
        /// Trips to generate; each gives an entry in one country and an exit
        /// (the entry into the other) the next day or later.
        #[arg(long, default_value_t = 200_000)]
        trips: usize,
        /// Seed of the generator (same seed, same data).
        #[arg(long, default_value_t = 2013)]
        seed: u64,
        /// How much the exit record differs from the entry record.
        #[arg(long, value_enum, default_value_t = NoiseArg::Moderate)]
        noise: NoiseArg,
        /// Where to put the hubs' data, keys, configs and bundles
        /// (default: a new directory under the system temp directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run one hub from its TOML configuration, until SIGTERM or Ctrl-C
    /// (work in flight is finished first; SIGHUP reloads the plugins).
    Serve {
        #[arg(long)]
        config: PathBuf,
        /// `text` for people, `json` for a log collector: one JSON object per
        /// line, with the event's fields at the top level.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Check a hub configuration file and say what is wrong with it.
    CheckConfig { file: PathBuf },
    /// Create an Ed25519 key pair: NAME.key.pem (private, PKCS#8) and NAME.pub.pem
    /// (public, SubjectPublicKeyInfo; readable by openssl and any COSE library);
    /// and the hub's self-signed TLS certificate NAME.cert.pem (give it to the
    /// partner, who pins it) with its key NAME.tls.key.pem. Never overwrites.
    Keygen {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "hub")]
        name: String,
        /// Another name or IP address the TLS certificate is valid for, besides
        /// 127.0.0.1 and localhost (repeat for several). Partners pin the
        /// certificate, so this matters only to other tools such as curl.
        #[arg(long = "san")]
        sans: Vec<String>,
        /// Write only the TLS certificate and key (for a hub that already has
        /// its Ed25519 keys).
        #[arg(long)]
        tls_only: bool,
    },
    /// Work with plugin components: sign them for a hub's trust list.
    Plugin {
        #[command(subcommand)]
        action: PluginAction,
    },
    /// See and retry the records a plugin failed on, on a running hub.
    Quarantine {
        #[command(subcommand)]
        action: QuarantineAction,
        /// The hub's API root.
        #[arg(long, default_value = "http://127.0.0.1:7401", global = true)]
        hub: String,
        #[command(flatten)]
        tls: HubTls,
    },
    /// The default matcher's model: weights learned from the data.
    Matcher {
        #[command(subcommand)]
        action: MatcherAction,
    },
    /// Clerical review on a running hub: list the pairs the matcher was not
    /// sure of, and link them or not.
    Matches {
        #[command(subcommand)]
        action: MatchesAction,
        /// The hub's API root.
        #[arg(long, default_value = "http://127.0.0.1:7401", global = true)]
        hub: String,
        #[command(flatten)]
        tls: HubTls,
    },
    /// See and set aside the entries a partner refuses for good, on a running
    /// hub (the stream to that partner waits behind them until then).
    Outbox {
        #[command(subcommand)]
        action: OutboxAction,
        /// The hub's API root.
        #[arg(long, default_value = "http://127.0.0.1:7401", global = true)]
        hub: String,
        #[command(flatten)]
        tls: HubTls,
    },
    /// Verify signed bundles and receipts offline and print what they contain.
    /// Given a directory (a hub's evidence: every .cose file under it), also
    /// check each direction as a chain: sequence gap-free from 1, every bundle
    /// naming the previous one's hash. Given only files, each is checked on its
    /// own (signature, signed head, Merkle root) and the chain is not.
    Verify {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A public key (PEM), as PATH or HUB=PATH (then the message must also
        /// claim to come from HUB). Repeat for several keys.
        #[arg(long = "key", required = true)]
        keys: Vec<String>,
    },
    /// Link exits to entries in two canonical CSV files, with the hub's matcher
    /// and assignment; write each pair, its score and its band (link or
    /// review) to --out. README.md ("Reconciling files") has the columns.
    Reconcile {
        /// Entries (our records), canonical CSV.
        #[arg(long)]
        entries: PathBuf,
        /// Exits (the partner's records of entries there), canonical CSV.
        #[arg(long)]
        exits: PathBuf,
        /// Where to write the pairs (CSV: entry_id,exit_id,score,band).
        #[arg(long)]
        out: PathBuf,
        /// A matcher component (.wasm) instead of the built-in biographic-matcher.
        #[arg(long)]
        matcher: Option<PathBuf>,
        /// A model `entrex matcher train` wrote, for the built-in matcher
        /// (default: its hand-set weights).
        #[arg(long, conflicts_with = "matcher")]
        model: Option<PathBuf>,
        #[arg(long, default_value_t = entrex::reconcile::DEFAULT_LINK_THRESHOLD)]
        link_threshold: f64,
        #[arg(long, default_value_t = entrex::reconcile::DEFAULT_REVIEW_THRESHOLD)]
        review_threshold: f64,
        /// Newest candidate entries taken per blocking key.
        #[arg(long, default_value_t = entrex::reconcile::DEFAULT_MAX_CANDIDATES)]
        max_candidates: usize,
        /// A labelled sample, CSV `entry_id,exit_id[,kinds]` (one true pair a
        /// line): print precision, recall, F1, recall per kind of error, and
        /// the pairs it got wrong (all of them in OUT.wrong.csv).
        #[arg(long)]
        truth: Option<PathBuf>,
        /// Refuse a file in which a date of birth is not a date (1980-02-30),
        /// instead of taking it as unknown and counting it.
        #[arg(long)]
        strict: bool,
        /// Worker threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Make a bearer token for the hub's API: prints the token (give it to
    /// its holder, once) and the `[[access.token]]` entry, which holds only
    /// its SHA-256, for the hub's configuration.
    Token {
        /// Who holds it, as the audit log will name them, e.g. cbsa-ingest-1.
        #[arg(long)]
        name: String,
        /// source, analyst or operator; repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Check a hub's audit log: every entry chained to the one before and
    /// matching its hash. Reports the first line that was edited, deleted or
    /// inserted; with --head (from GET /v1/status), also lines cut off the end.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Everything a hub holds about one travel document (individual access).
    Export {
        #[arg(long, default_value = "http://127.0.0.1:7401")]
        hub: String,
        #[arg(long)]
        document_country: String,
        #[arg(long)]
        document_number: String,
        /// Why (recorded in the hub's audit log).
        #[arg(long)]
        purpose: String,
        #[command(flatten)]
        tls: HubTls,
    },
    /// Write a proof that one record is in a signed bundle, showing no other
    /// record: the sender's signed bundle head, the record and its Merkle audit
    /// path (RFC 9162). `entrex verify PROOF --key SENDER=PEM` checks it.
    Prove {
        /// A bundle file, or an evidence directory of them (e.g. DATA/evidence/from-CA).
        #[arg(long)]
        bundle: PathBuf,
        /// The record's sequence number in the sender's stream to this receiver.
        #[arg(long)]
        seq: u64,
        /// The sender's public key (PEM), as PATH or HUB=PATH.
        #[arg(long = "key", required = true)]
        keys: Vec<String>,
        /// Where to write the proof (CBOR).
        #[arg(long)]
        out: PathBuf,
    },
    /// Export the sealed ledger, and a hub's matching decisions, as Apache
    /// Parquet for DuckDB, Spark, Trino and the like (README.md, "The ledger
    /// in analytics engines"; the columns are in docs/ledger.md).
    Ledger {
        #[command(subcommand)]
        action: LedgerAction,
    },
    #[command(flatten)]
    Insights(InsightsCommand),
}

#[derive(Subcommand)]
enum LedgerAction {
    /// Verify evidence directories as `entrex verify` does (nothing is
    /// written if anything does not verify) and write every acknowledged
    /// bundle's entries to OUT/records and the bundles to OUT/bundles,
    /// partitioned by direction and day. Run it again to add what is new:
    /// a killed run is completed by the next.
    Export {
        /// A hub's evidence directory (DATA_DIR/evidence) or part of it;
        /// repeat for several (both hubs' evidence may be given).
        #[arg(long = "evidence", required = true)]
        evidence: Vec<PathBuf>,
        /// A hub's public key (PEM) as HUB=PATH; repeat for each hub whose
        /// bundles or receipts are among the evidence.
        #[arg(long = "key", required = true)]
        keys: Vec<String>,
        /// The export directory (made if missing).
        #[arg(long)]
        out: PathBuf,
        /// Write only bundles sealed on or after this UTC day (YYYY-MM-DD);
        /// the earlier ones are still verified, as the chain needs them.
        #[arg(long)]
        since: Option<String>,
        /// Print what was done as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a running hub's matching decisions (every exit received from
    /// each partner: the entry it is linked to, score, band, decision) to
    /// OUT/matches, partitioned by direction and exit day, replacing the
    /// previous snapshot there. Personal data: needs the analyst role and a
    /// purpose, and every page read is in the hub's audit log.
    ExportMatches {
        /// The hub's API root.
        #[arg(long, default_value = "http://127.0.0.1:7401")]
        hub: String,
        #[command(flatten)]
        tls: HubTls,
        /// Why (recorded in the hub's audit log).
        #[arg(long)]
        purpose: String,
        /// Only this partner's exits (repeat for several; default: every partner).
        #[arg(long = "partner")]
        partners: Vec<String>,
        /// The export directory (made if missing; may be the ledger's).
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PluginAction {
    /// Write COMPONENT.sig: a signature over the component's hash, name,
    /// version and kind, with a private key whose public half hubs list in
    /// `[plugins] trusted_keys`.
    Sign {
        component: PathBuf,
        #[arg(long)]
        key: PathBuf,
        /// normaliser, eligibility, matcher or transport.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        version: String,
        /// Defaults to the file name without extension.
        #[arg(long)]
        name: Option<String>,
    },
    /// Run a plugin against fixture cases (see plugins/README.md), without a hub.
    Test {
        component: PathBuf,
        #[arg(long)]
        fixtures: PathBuf,
    },
    /// Make a running hub load the plugins in its configuration file again:
    /// they run on recent records first and are swapped in only if none fails.
    /// (SIGHUP to `entrex serve` does the same.)
    Reload {
        /// The hub's API root.
        #[arg(long, default_value = "http://127.0.0.1:7401")]
        hub: String,
        #[command(flatten)]
        tls: HubTls,
    },
}

/// How to reach an https hub.
#[derive(clap::Args)]
struct HubTls {
    /// The hub's TLS certificate (PEM), pinned; needed for an https:// --hub.
    #[arg(long, global = true)]
    hub_cert: Option<PathBuf>,
    /// A client certificate (PEM) to present, with --client-key.
    #[arg(long, global = true, requires = "client_key")]
    client_cert: Option<PathBuf>,
    #[arg(long, global = true, requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// A bearer token (`entrex token` makes them); or set ENTREX_TOKEN.
    #[arg(long, global = true, env = "ENTREX_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl HubTls {
    fn client(&self, hub: String) -> Result<entrex::client::Client, String> {
        let Some(pinned) = &self.hub_cert else {
            if hub.starts_with("https://") {
                return Err(format!(
                    "{hub} is https: give its certificate with --hub-cert (e.g. keys/ca.cert.pem); only that certificate is accepted from it"
                ));
            }
            return Ok(self.authenticated(entrex::client::Client::new(hub)));
        };
        let identity = self.client_cert.as_deref().zip(self.client_key.as_deref());
        entrex::client::Client::pinned_files(hub, pinned, identity)
            .map(|c| self.authenticated(c))
            .map_err(|e| e.to_string())
    }

    fn authenticated(&self, client: entrex::client::Client) -> entrex::client::Client {
        match &self.token {
            Some(token) => client.with_token(token.clone()),
            None => client,
        }
    }
}

#[derive(Subcommand)]
enum AuditAction {
    Verify {
        /// The hub's audit log (DATA_DIR/audit.log).
        file: PathBuf,
        /// The head the hub publishes (`audit.hash` in GET /v1/status).
        #[arg(long)]
        head: Option<String>,
    },
}

#[derive(Subcommand)]
enum QuarantineAction {
    /// List quarantined records: where they came from, which plugin failed, why.
    List {
        /// Why you look (whole source records are personal data; it is
        /// recorded in the hub's audit log).
        #[arg(long)]
        purpose: String,
    },
    /// Run every quarantined record through the pipeline again.
    Retry,
}

#[derive(Subcommand)]
enum MatcherAction {
    /// Estimate the matcher's m- and u-probabilities and prior from
    /// unlabelled entries and exits (canonical CSV, as `entrex reconcile`
    /// reads, or a stopped hub's store), by EM; write the model (JSON) and
    /// print its table, and with a hub, its precision and recall on the
    /// hub's review decisions.
    Train {
        /// Entries (canonical CSV, as `entrex reconcile` reads); with --exits.
        #[arg(long, requires = "exits", conflicts_with = "config")]
        entries: Option<PathBuf>,
        #[arg(long, requires = "entries")]
        exits: Option<PathBuf>,
        /// A stopped hub's configuration: train on its store (its entries,
        /// its partners' exits) and check the model against its analysts'
        /// review decisions.
        #[arg(long, required_unless_present = "entries")]
        config: Option<PathBuf>,
        /// Where to write the model.
        #[arg(long)]
        out: PathBuf,
        /// Random (entry, exit) pairs that estimate u.
        #[arg(long, default_value_t = entrex::training::DEFAULT_RANDOM_PAIRS)]
        random_pairs: usize,
        /// Newest entries per blocking key for one exit.
        #[arg(long, default_value_t = entrex::reconcile::DEFAULT_MAX_CANDIDATES)]
        max_candidates: usize,
        #[arg(long, default_value_t = entrex::training::DEFAULT_MAX_ITERATIONS)]
        max_iterations: usize,
        /// Worker threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// Family names listed with their frequency for the term-frequency
        /// adjustment (the commonest; 0 for none).
        #[arg(long, default_value_t = entrex::training::DEFAULT_TERM_FREQUENCIES)]
        term_frequencies: usize,
        /// Keep u as random pairs give it (Splink's way) instead of
        /// re-estimating it over the candidate pairs by EM (the default).
        #[arg(long)]
        u_random: bool,
        /// Leading letters of a name in blocking keys (2 to 6; the
        /// matcher's default, 3, if not given): more letters, fewer
        /// candidates per exit. Changing it makes a hub rebuild its index.
        #[arg(long)]
        name_letters: Option<usize>,
    },
}

#[derive(Subcommand)]
enum MatchesAction {
    /// The pairs in review, each with both records (personal data:
    /// recorded in the hub's audit log with your purpose).
    Review {
        #[arg(long)]
        purpose: String,
        /// Only this partner's records.
        #[arg(long)]
        partner: Option<String>,
    },
    /// Decide a pair in review: --link (the same person) or --not-link.
    Decide {
        #[arg(long)]
        partner: String,
        /// The partner's record's sequence number (from `matches review`).
        #[arg(long)]
        exit_seq: u64,
        #[arg(
            long,
            conflicts_with = "not_link",
            required_unless_present = "not_link"
        )]
        link: bool,
        #[arg(long)]
        not_link: bool,
        #[arg(long)]
        purpose: String,
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Subcommand)]
enum OutboxAction {
    /// Show each bundle a partner refuses: its entries and the partner's
    /// answer (personal data: recorded in the hub's audit log).
    Refused {
        /// Why you look.
        #[arg(long)]
        purpose: String,
    },
    /// Replace entries the partner refuses by placeholders that say only
    /// that they were set aside; the stream goes on at once.
    SetAside {
        #[arg(long)]
        partner: String,
        /// A sequence number to set aside (repeat for several).
        #[arg(long = "seq", required = true)]
        seqs: Vec<u64>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum NoiseArg {
    Light,
    Moderate,
    Heavy,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. } | Command::Demo { .. }) {
        // Rust ignores SIGPIPE, so `entrex … | head -1` met a closed pipe
        // with a panic; a command-line tool ends as `cat` does. Not for the
        // commands that run hubs: they write to sockets, which report a
        // closed peer as an error to handle.
        // SAFETY: at start-up, before any thread; SIG_DFL is a valid
        // disposition for SIGPIPE.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let (default_level, format) = match cli.command {
        Command::Serve { log_format, .. } => ("info", log_format),
        _ => ("warn", LogFormat::Text),
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        // Flattened, so a collector finds `message`, `partner`, `hub`...
        // beside `timestamp`, `level` and `target`, not under `fields`.
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    match run(cli.command) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// A hub error said for people: at the line of the configuration key it
/// comes from, when it comes from one.
fn located(settings: &Settings, e: entrex::hub::HubError) -> String {
    match e.setting() {
        Some(key) => settings.error_at(key, e.to_string()).to_string(),
        None => match &settings.source {
            Some(file) => format!("{}: {e}", file.display()),
            None => e.to_string(),
        },
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot start the async runtime")
}

fn run(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Demo {
            trips,
            seed,
            noise,
            dir,
            json,
        } => {
            let options = demo::Options {
                trips,
                seed,
                noise: match noise {
                    NoiseArg::Light => generator::Noise::Light,
                    NoiseArg::Moderate => generator::Noise::Moderate,
                    NoiseArg::Heavy => generator::Noise::Heavy,
                },
                dir,
                progress: !json,
            };
            let summary = runtime()
                .block_on(demo::run(options))
                .map_err(|e| e.to_string())?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&summary).expect("summary is JSON")
                );
            } else {
                print!("{}", summary.render());
            }
            Ok(if summary.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Serve { config, .. } => {
            let settings = Settings::load(&config).map_err(|e| e.to_string())?;
            runtime()
                .block_on(Hub::serve(settings.clone()))
                .map_err(|e| located(&settings, e))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig { file } => {
            let settings = Settings::load(&file).map_err(|e| e.to_string())?;
            entrex::hub::check(&settings).map_err(|e| located(&settings, e))?;
            if let Some(warning) = entrex::tls::plain_http_warning(&settings) {
                eprintln!("warning: {}: {warning}", file.display());
            }
            println!(
                "{}: ok (hub {}, listening on {}, {} partner(s); keys and plugins load)",
                file.display(),
                settings.hub_id,
                settings.listen,
                settings.partners.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin {
            action:
                PluginAction::Sign {
                    component,
                    key,
                    kind,
                    version,
                    name,
                },
        } => {
            let kind: entrex::plugins::Kind = kind.parse()?;
            let name = name.unwrap_or_else(|| {
                component
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            let path = entrex::plugins::sign(&key, &component, &name, &version, kind)
                .map_err(|e| e.to_string())?;
            println!(
                "signed {name} {version} ({kind} plugin): {}",
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin {
            action:
                PluginAction::Test {
                    component,
                    fixtures,
                },
        } => match entrex::fixtures::run(&component, &fixtures) {
            Err(e) => {
                eprintln!("error: {e}");
                Ok(ExitCode::from(2))
            }
            Ok(outcomes) => {
                let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
                for outcome in &outcomes {
                    match &outcome.result {
                        Ok(()) => println!("ok   {}", outcome.name),
                        Err(why) => println!("FAIL {}\n{why}", outcome.name),
                    }
                }
                println!("{} passed, {failed} failed", outcomes.len() - failed);
                Ok(if failed == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
        },
        Command::Plugin {
            action: PluginAction::Reload { hub, tls },
        } => {
            let client = tls.client(hub)?;
            let report = runtime()
                .block_on(client.reload_plugins())
                .map_err(|e| e.to_string())?;
            println!(
                "reloaded {} after a canary on {} recent records ({} eligibility decisions would change)",
                report.plugins.join(", "),
                report.canary_records,
                report.decisions_changed
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Quarantine { action, hub, tls } => {
            let client = tls.client(hub)?;
            runtime().block_on(async {
                match action {
                    QuarantineAction::List { purpose } => {
                        let entries = client.quarantine(&purpose).await.map_err(|e| e.to_string())?;
                        if entries.is_empty() {
                            println!("quarantine is empty");
                        }
                        for q in entries {
                            println!(
                                "#{} {} ({} bytes) at {}: {} plugin {}: {}",
                                q.id,
                                q.location,
                                q.bytes,
                                entrex::record::format_time(q.quarantined_at),
                                q.stage,
                                q.plugin,
                                q.reason
                            );
                        }
                    }
                    QuarantineAction::Retry => {
                        let report = client.retry_quarantine().await.map_err(|e| e.to_string())?;
                        println!(
                            "retried {}: {} accepted, {} rejected, {} duplicates, {} quarantined again",
                            report.received, report.accepted, report.rejected, report.duplicates, report.quarantined
                        );
                    }
                }
                Ok::<_, String>(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Matches { action, hub, tls } => {
            let client = tls.client(hub)?;
            runtime().block_on(async {
                match action {
                    MatchesAction::Review { purpose, partner } => {
                        let pairs = client
                            .review_pairs(partner.as_deref(), &purpose)
                            .await
                            .map_err(|e| e.to_string())?;
                        if pairs.is_empty() {
                            println!("no pair is waiting for review");
                        }
                        let person = |r: &entrex::record::SharedRecord| {
                            format!(
                                "{} {} born {}, {} {} {}",
                                r.family_name,
                                r.given_names,
                                r.date_of_birth,
                                r.document_type,
                                r.document_country,
                                r.document_number
                            )
                        };
                        for p in pairs {
                            println!(
                                "{} #{} score {:.3}\n  exit:  {}\n  entry: #{} {}",
                                p.partner,
                                p.exit_seq,
                                p.score,
                                person(&p.exit),
                                p.entry_id,
                                p.entry.as_ref().map_or("(no longer held)".into(), person)
                            );
                        }
                    }
                    MatchesAction::Decide {
                        partner,
                        exit_seq,
                        link,
                        not_link: _,
                        purpose,
                        note,
                    } => {
                        use entrex::store::ReviewDecision;
                        let request = entrex::api::ReviewDecisionRequest {
                            partner: partner.clone(),
                            exit_seq,
                            decision: if link {
                                ReviewDecision::Link
                            } else {
                                ReviewDecision::NotLink
                            },
                            note,
                        };
                        let decided = client
                            .decide_review(&request, &purpose)
                            .await
                            .map_err(|e| e.to_string())?;
                        println!("{partner} #{exit_seq}: {decided:?}");
                    }
                }
                Ok::<_, String>(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Outbox { action, hub, tls } => {
            let client = tls.client(hub)?;
            runtime().block_on(async {
                match action {
                    OutboxAction::Refused { purpose } => {
                        let refused = client.refused(&purpose).await.map_err(|e| e.to_string())?;
                        if refused.is_empty() {
                            println!("no partner refuses a bundle");
                        }
                        for b in refused {
                            println!(
                                "{} refuses bundle {}..={} (HTTP {}, {} times since {}); it says:\n  {}",
                                b.partner,
                                b.first_seq,
                                b.last_seq,
                                b.http_status,
                                b.attempts,
                                entrex::record::format_time(b.since),
                                b.partner_says.trim()
                            );
                            for e in b.entries {
                                let what = match &e.record {
                                    Some(r) => format!(
                                        "{} {}, {} document {} {}, entered {} at port {}",
                                        r.family_name,
                                        r.given_names,
                                        r.document_type,
                                        r.document_country,
                                        r.document_number,
                                        entrex::record::format_time(r.entered_at),
                                        r.port_code
                                    ),
                                    None => String::new(),
                                };
                                let amends = e.amends.map(|n| format!(" of #{n}")).unwrap_or_default();
                                println!("  #{} {}{amends} {what}", e.seq, e.kind);
                            }
                        }
                    }
                    OutboxAction::SetAside { partner, seqs } => {
                        let results = client.set_aside(&partner, &seqs).await.map_err(|e| e.to_string())?;
                        for r in results {
                            use entrex::store::SetAside;
                            match r {
                                SetAside::SetAside { seq, kind, note } => {
                                    println!("#{seq}: {kind} set aside; {note}")
                                }
                                SetAside::Acknowledged { seq } => {
                                    println!("#{seq}: the partner acknowledged it already; nothing done")
                                }
                                SetAside::NotQueued { seq } => println!("#{seq}: nothing is queued under this number"),
                                SetAside::AlreadySetAside { seq } => println!("#{seq}: set aside before"),
                            }
                        }
                    }
                }
                Ok::<_, String>(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen {
            out,
            name,
            sans,
            tls_only,
        } => {
            // Refuse before writing anything if any of the files exists.
            let (cert, tls_key) = entrex::tls::certificate_paths(&out, &name);
            let mut paths = vec![cert, tls_key];
            if !tls_only {
                paths.push(out.join(format!("{name}.key.pem")));
                paths.push(out.join(format!("{name}.pub.pem")));
            }
            if let Some(existing) = paths.iter().find(|p| p.exists()) {
                return Err(keys::KeyError::Exists(existing.clone()).to_string());
            }
            if !tls_only {
                let key = keys::generate(&out, &name).map_err(|e| e.to_string())?;
                println!("private key: {}", key.private_key.display());
                println!("public key:  {}", key.public_key.display());
                println!("key id:      {}", key.key_id);
            }
            let cert = entrex::tls::generate(&out, &name, &sans).map_err(|e| e.to_string())?;
            println!(
                "TLS certificate: {} (partners pin this file)",
                cert.certificate.display()
            );
            println!("TLS key:         {}", cert.private_key.display());
            println!("TLS fingerprint: SHA-256 {}…", cert.fingerprint);
            Ok(ExitCode::SUCCESS)
        }
        Command::Matcher {
            action:
                MatcherAction::Train {
                    entries,
                    exits,
                    config,
                    out,
                    random_pairs,
                    max_candidates,
                    max_iterations,
                    threads,
                    u_random,
                    term_frequencies,
                    name_letters,
                },
        } => {
            let source = match (entries, exits, config) {
                (Some(entries), Some(exits), _) => entrex::training::Source::Csv { entries, exits },
                (_, _, Some(config)) => entrex::training::Source::Hub { config },
                _ => unreachable!("clap requires --entries with --exits, or --config"),
            };
            let options = entrex::training::Options {
                source,
                out: out.clone(),
                random_pairs,
                max_candidates,
                max_iterations,
                u_random,
                term_frequencies,
                name_letters,
                threads: threads
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            };
            let trained = entrex::training::train(&options).map_err(|e| e.to_string())?;
            println!(
                "{trained}
model written to {}",
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Reconcile {
            entries,
            exits,
            out,
            matcher,
            model,
            link_threshold,
            review_threshold,
            max_candidates,
            threads,
            truth,
            strict,
        } => {
            let matcher_config = match model {
                Some(path) => entrex::training::model_config(&path).map_err(|e| e.to_string())?,
                None => "{}".to_owned(),
            };
            let mut settings = entrex::reconcile::Settings::default();
            settings.matching.link_threshold = link_threshold;
            settings.matching.review_threshold = review_threshold;
            settings.matching.max_candidates = max_candidates;
            if let Some(threads) = threads {
                settings.threads = threads;
            }
            let options = entrex::reconcile::Options {
                entries,
                exits,
                out,
                matcher,
                matcher_config,
                settings,
                truth,
                strict,
            };
            let summary = entrex::reconcile::run(&options).map_err(|e| e.to_string())?;
            println!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Token { name, roles } => {
            let roles: Vec<String> = roles
                .iter()
                .map(|r| match r.as_str() {
                    "source" | "analyst" | "operator" => Ok(format!("{r:?}")),
                    "partner" => Err(
                        "partner hubs authenticate with their pinned TLS certificate, not a token"
                            .to_owned(),
                    ),
                    other => Err(format!(
                        "--role {other:?}: write source, analyst or operator"
                    )),
                })
                .collect::<Result<_, _>>()?;
            let (token, hash) = entrex::auth::new_token();
            println!("token (give it to {name}; it is not stored anywhere): {token}");
            println!();
            println!("[[access.token]]");
            println!("name = {name:?}");
            println!("roles = [{}]", roles.join(", "));
            println!("sha256 = \"{hash}\"");
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            action: AuditAction::Verify { file, head },
        } => match entrex::audit::verify(&file) {
            Ok(found) => {
                if let Some(expected) = head
                    && expected.trim() != found.hash
                {
                    println!(
                        "FAIL {}: the chain is intact up to entry {} (hash {}), but the hub's head is {}: entries were cut off the end, or this is an old copy",
                        file.display(),
                        found.entries,
                        found.hash,
                        expected.trim()
                    );
                    return Ok(ExitCode::from(1));
                }
                println!(
                    "OK   {}: {} entries, each chained to the one before; head {}",
                    file.display(),
                    found.entries,
                    found.hash
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                println!("FAIL {e}");
                Ok(ExitCode::from(1))
            }
        },
        Command::Export {
            hub,
            document_country,
            document_number,
            purpose,
            tls,
        } => {
            let client = tls.client(hub)?;
            let export = runtime()
                .block_on(client.person_export(&document_country, &document_number, &purpose))
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string_pretty(&export).map_err(|e| e.to_string())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Prove {
            bundle,
            seq,
            keys,
            out,
        } => {
            let keyring = verify::keyring(&keys).map_err(|e| e.to_string())?;
            let proof = verify::prove(&bundle, seq, &keyring)?;
            let bytes = serde_cbor::to_vec(&proof).map_err(|e| e.to_string())?;
            std::fs::write(&out, bytes).map_err(|e| format!("{}: {e}", out.display()))?;
            println!(
                "wrote {}: entry {seq} with {} hashes of audit path; check it with `entrex verify {} --key ...`",
                out.display(),
                proof.path.len(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Ledger { action } => ledger(action),
        Command::Insights(command) => run_insights(command),
        Command::Verify { files, keys } => {
            let keyring = verify::keyring(&keys).map_err(|e| e.to_string())?;
            let whole_chain = verify::checks_chain(&files);
            let files = verify::expand(&files).map_err(|e| format!("cannot list files: {e}"))?;
            let mut failed = 0;
            let (outcomes, chains) = if whole_chain {
                verify::verify_files(&files, &keyring)
            } else {
                verify::verify_each(&files, &keyring)
            };
            for outcome in outcomes {
                match outcome.result {
                    Ok(description) => println!("OK   {}: {description}", outcome.path.display()),
                    Err(why) => {
                        failed += 1;
                        println!("FAIL {}: {why}", outcome.path.display());
                    }
                }
            }
            let mut broken = 0;
            let what = if whole_chain { "chain" } else { "receipt" };
            for chain in chains {
                match chain {
                    Ok(line) => println!("OK   {what} {line}"),
                    Err(why) => {
                        broken += 1;
                        println!("FAIL {what} {why}");
                    }
                }
            }
            if !whole_chain {
                println!("NOTE {}", verify::CHAIN_NOT_CHECKED);
            }
            if failed + broken > 0 {
                eprintln!(
                    "{failed} of {} file(s) failed verification; {broken} problem(s) across files",
                    files.len()
                );
                Ok(ExitCode::FAILURE)
            } else {
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// What analysts ask of running hubs.
#[derive(Subcommand)]
enum InsightsCommand {
    /// The joint report: records sent and received, reconciliation rates and
    /// persons under a removal order who departed, per period, port and
    /// direction, with the overstays. Give both hubs of an exchange (--hub
    /// twice), or every hub of several exchanges, for every direction's
    /// figures in one table (each row takes what was sent from the sending
    /// hub and the rest from the receiving hub).
    Report {
        /// A hub's API root; repeat for the partner hubs.
        #[arg(long = "hub", required = true)]
        hubs: Vec<String>,
        /// Each https hub's TLS certificate (PEM), pinned, in the order of --hub.
        #[arg(long = "hub-cert")]
        hub_certs: Vec<PathBuf>,
        /// A client certificate (PEM) to present to each hub, in the order of
        /// --hub, with --client-key.
        #[arg(long = "client-cert")]
        client_certs: Vec<PathBuf>,
        #[arg(long = "client-key")]
        client_keys: Vec<PathBuf>,
        /// A bearer token for each hub, in the order of --hub (one token: for
        /// every hub); or set ENTREX_TOKEN.
        #[arg(long = "token", env = "ENTREX_TOKEN", hide_env_values = true)]
        tokens: Vec<String>,
        /// First day counted (YYYY-MM-DD, UTC).
        #[arg(long)]
        from: Option<String>,
        /// First day NOT counted (YYYY-MM-DD, UTC).
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_enum, default_value_t = PeriodArg::Day)]
        by: PeriodArg,
        /// Only this port of entry.
        #[arg(long)]
        port: Option<String>,
        #[arg(long, value_enum, default_value_t = FormatArg::Text)]
        format: FormatArg,
    },
    /// Entries whose authorised stay has run out with no exit recorded
    /// (personal data: --purpose is required).
    Overstays {
        #[arg(long, default_value = "http://127.0.0.1:7401")]
        hub: String,
        #[command(flatten)]
        tls: HubTls,
        /// The moment to judge at: YYYY-MM-DD (midnight UTC), RFC 3339 or unix
        /// seconds; now by default.
        #[arg(long)]
        as_of: Option<String>,
        #[arg(long)]
        port: Option<String>,
        /// Most entries listed (the total is always counted).
        #[arg(long)]
        limit: Option<usize>,
        /// Why you need the list; recorded with the request.
        #[arg(long)]
        purpose: String,
        #[arg(long)]
        json: bool,
    },
    /// Received exits that match a person on the hub's removal-order list:
    /// list them, and confirm or reject one.
    RemovalOrders {
        #[command(subcommand)]
        action: RemovalAction,
        #[arg(long, default_value = "http://127.0.0.1:7401", global = true)]
        hub: String,
        #[command(flatten)]
        tls: HubTls,
    },
    /// One person's trips (entries here and the exits the partner recorded),
    /// stays and days present, and with --became-pr the PR residency and
    /// citizenship calculators (personal data: --purpose is required).
    History {
        #[arg(long, default_value = "http://127.0.0.1:7401")]
        hub: String,
        #[command(flatten)]
        tls: HubTls,
        /// The travel document, as COUNTRY:NUMBER (e.g. MEX:G12345678).
        #[arg(long, conflicts_with_all = ["name", "dob"])]
        document: Option<String>,
        /// The name, as "FAMILY, GIVEN NAMES"; with --dob.
        #[arg(long, requires = "dob")]
        name: Option<String>,
        /// Date of birth, YYYY-MM-DD (00 for an unknown month or day).
        #[arg(long, requires = "name")]
        dob: Option<String>,
        /// The day to read the history on (YYYY-MM-DD); today by default.
        #[arg(long)]
        as_of: Option<String>,
        /// Days present from this day (inclusive); five years before --as-of by default.
        #[arg(long)]
        from: Option<String>,
        /// Days present to this day (inclusive); the day before --as-of by default.
        #[arg(long)]
        to: Option<String>,
        /// The day the person became a permanent resident: runs the PR
        /// residency and citizenship calculators on --as-of.
        #[arg(long)]
        became_pr: Option<String>,
        #[arg(long)]
        purpose: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum RemovalAction {
    /// List flags (personal data: --purpose is required).
    Flags {
        #[arg(long, value_enum, default_value_t = FlagStatusArg::All)]
        status: FlagStatusArg,
        #[arg(long)]
        purpose: String,
        #[arg(long)]
        json: bool,
    },
    /// Record a person's decision on a flag.
    Decide {
        #[arg(long)]
        flag: u64,
        #[arg(long, value_enum)]
        decision: DecisionArg,
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum PeriodArg {
    Day,
    Week,
    Month,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Text,
    Json,
    Csv,
}

#[derive(Clone, Copy, ValueEnum)]
enum FlagStatusArg {
    Pending,
    Confirmed,
    Rejected,
    All,
}

#[derive(Clone, Copy, ValueEnum)]
enum DecisionArg {
    Confirmed,
    Rejected,
    Pending,
}

fn params(pairs: &[(&'static str, Option<String>)]) -> Vec<(&'static str, String)> {
    pairs
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (*k, v)))
        .collect()
}

fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("a response is JSON")
    );
}

fn run_insights(command: InsightsCommand) -> Result<ExitCode, String> {
    let rt = runtime();
    match command {
        InsightsCommand::Report {
            hubs,
            hub_certs,
            client_certs,
            client_keys,
            tokens,
            from,
            to,
            by,
            port,
            format,
        } => {
            if client_certs.len() != client_keys.len() {
                return Err("give a --client-key for each --client-cert, in the same order".into());
            }
            let by = match by {
                PeriodArg::Day => "day",
                PeriodArg::Week => "week",
                PeriodArg::Month => "month",
            };
            let query = params(&[
                ("from", from),
                ("to", to),
                ("by", Some(by.to_owned())),
                ("port", port),
            ]);
            let mut reports = Vec::new();
            for (i, hub) in hubs.into_iter().enumerate() {
                let tls = HubTls {
                    hub_cert: hub_certs.get(i).cloned(),
                    client_cert: client_certs.get(i).cloned(),
                    client_key: client_keys.get(i).cloned(),
                    token: tokens
                        .get(i)
                        .or(tokens.first().filter(|_| tokens.len() == 1))
                        .cloned(),
                };
                let client = tls.client(hub)?;
                reports.push(
                    rt.block_on(client.report_by(&query))
                        .map_err(|e| e.to_string())?,
                );
            }
            let combined = entrex::report::combine(&reports);
            match format {
                FormatArg::Text => print!("{}", combined.to_text()),
                FormatArg::Csv => print!("{}", combined.to_csv()),
                FormatArg::Json => print_json(&combined),
            }
        }
        InsightsCommand::Overstays {
            hub,
            tls,
            as_of,
            port,
            limit,
            purpose,
            json,
        } => {
            let client = tls.client(hub)?;
            let list = rt
                .block_on(client.overstays(&params(&[
                    ("as_of", as_of),
                    ("port", port),
                    ("limit", limit.map(|n| n.to_string())),
                    ("purpose", Some(purpose)),
                ])))
                .map_err(|e| e.to_string())?;
            if json {
                print_json(&list);
            } else {
                print!("{}", list.to_text());
            }
        }
        InsightsCommand::RemovalOrders { action, hub, tls } => {
            let client = tls.client(hub)?;
            match action {
                RemovalAction::Flags {
                    status,
                    purpose,
                    json,
                } => {
                    let status = match status {
                        FlagStatusArg::Pending => "pending",
                        FlagStatusArg::Confirmed => "confirmed",
                        FlagStatusArg::Rejected => "rejected",
                        FlagStatusArg::All => "all",
                    };
                    let list = rt
                        .block_on(client.removal_flags(&params(&[
                            ("status", Some(status.to_owned())),
                            ("purpose", Some(purpose)),
                        ])))
                        .map_err(|e| e.to_string())?;
                    if json {
                        print_json(&list);
                    } else {
                        print!("{}", list.to_text());
                    }
                }
                RemovalAction::Decide {
                    flag,
                    decision,
                    note,
                } => {
                    let decision = entrex::removal::Decision {
                        flag,
                        decision: match decision {
                            DecisionArg::Confirmed => entrex::store::FlagStatus::Confirmed,
                            DecisionArg::Rejected => entrex::store::FlagStatus::Rejected,
                            DecisionArg::Pending => entrex::store::FlagStatus::Pending,
                        },
                        note,
                    };
                    let flag = rt
                        .block_on(client.decide_removal_flag(&decision))
                        .map_err(|e| e.to_string())?;
                    println!(
                        "flag {} (order {}, {} record {}) is now {:?}",
                        flag.id, flag.order_id, flag.partner, flag.exit_seq, flag.status
                    );
                }
            }
        }
        InsightsCommand::History {
            hub,
            tls,
            document,
            name,
            dob,
            as_of,
            from,
            to,
            became_pr,
            purpose,
            json,
        } => {
            let mut person = Vec::new();
            match (document, name) {
                (Some(doc), _) => {
                    let (country, number) = doc.split_once(':').ok_or_else(|| {
                        format!("--document {doc:?}: write COUNTRY:NUMBER, e.g. MEX:G12345678")
                    })?;
                    person.push(("document_country", Some(country.to_owned())));
                    person.push(("document_number", Some(number.to_owned())));
                }
                (None, Some(name)) => {
                    let (family, given) = name.split_once(',').unwrap_or((&name, ""));
                    person.push(("family_name", Some(family.trim().to_owned())));
                    person.push(("given_names", Some(given.trim().to_owned())));
                    person.push(("date_of_birth", dob));
                }
                (None, None) => {
                    return Err(
                        "say whom to look up: --document COUNTRY:NUMBER, or --name \"FAMILY, GIVEN\" with --dob YYYY-MM-DD"
                            .into(),
                    );
                }
            }
            person.extend([
                ("as_of", as_of),
                ("from", from),
                ("to", to),
                ("became_pr", became_pr),
                ("purpose", Some(purpose)),
            ]);
            let client = tls.client(hub)?;
            let history = rt
                .block_on(client.travel_history(&params(&person)))
                .map_err(|e| e.to_string())?;
            if json {
                print_json(&history);
            } else {
                print!("{}", history.to_text());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A calendar day given on the command line, `YYYY-MM-DD`.
fn day_arg(flag: &str, v: &str) -> Result<entrex::presence::Day, String> {
    entrex_plugin_common::dates::parse_date(v)
        .map(|(y, m, d)| {
            entrex::presence::day_of(entrex_plugin_common::dates::start_of_day_unix(y, m, d))
        })
        .map_err(|e| format!("{flag} {v:?}: {e}; write a date as YYYY-MM-DD"))
}

fn ledger(action: LedgerAction) -> Result<ExitCode, String> {
    match action {
        LedgerAction::Export {
            evidence,
            keys,
            out,
            since,
            json,
        } => {
            let options = entrex::ledger::ExportOptions {
                evidence,
                keyring: entrex::ledger::keyring(&keys).map_err(|e| e.to_string())?,
                out,
                since: since.map(|s| day_arg("--since", &s)).transpose()?,
            };
            let summary = entrex::ledger::export(&options).map_err(|e| e.to_string())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary).expect("JSON"));
            } else {
                print!("{}", summary.render());
            }
            Ok(ExitCode::SUCCESS)
        }
        LedgerAction::ExportMatches {
            hub,
            tls,
            purpose,
            partners,
            out,
            json,
        } => {
            let client = tls.client(hub)?;
            let rt = runtime();
            // The hub's id and partners, from the (aggregate) joint report.
            let report = rt
                .block_on(client.report_by(&[]))
                .map_err(|e| e.to_string())?;
            let partners = if partners.is_empty() {
                report
                    .directions
                    .iter()
                    .map(|d| d.partner.clone())
                    .collect()
            } else {
                partners
            };
            struct Api<'a> {
                rt: &'a tokio::runtime::Runtime,
                client: &'a entrex::client::Client,
                purpose: &'a str,
            }
            impl entrex::ledger::matches::Source for Api<'_> {
                fn page(
                    &mut self,
                    partner: &str,
                    after: u64,
                ) -> Result<entrex::ledger::matches::MatchPage, String> {
                    self.rt
                        .block_on(self.client.ledger_matches(partner, after, self.purpose))
                        .map_err(|e| e.to_string())
                }
            }
            let mut source = Api {
                rt: &rt,
                client: &client,
                purpose: &purpose,
            };
            let summary =
                entrex::ledger::matches::export(&mut source, &report.hub, &partners, &out)
                    .map_err(|e| e.to_string())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary).expect("JSON"));
            } else {
                print!("{}", summary.render());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
