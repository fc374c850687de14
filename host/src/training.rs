//! `entrex matcher train`: estimates the default matcher's model (m and u
//! per comparison level, and the prior) from unlabelled entries and exits.
//!
//! The comparison levels are the matcher's own (`biographic_matcher`, the
//! same Rust the built-in component runs), called natively: training reads
//! millions of pairs, and the result is data the component is configured
//! with (`{"model": ...}`), so what is trained is exactly what scores.
//!
//! Pairs come from two places: random (entry, exit) pairs, almost all two
//! different people, give u to start from; the candidate pairs blocking
//! brings together give m, u and the share of true pairs by EM. Holding u
//! at the random pairs' (`--u-random`, as Splink does) measured worse here:
//! the non-matches blocking brings together agree far more often than
//! random pairs do (relatives, namesakes born the same year), and EM then
//! calls them matches (F1 0.9849 against 0.9956 on the second generator's
//! moderate 100k).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use biographic_matcher as bm;
use bm::entrex::plugin::types as bmt;
use bm::model::{self, Model, Tally};
use rand::{Rng, SeedableRng};

use crate::reconcile::{self, ReconcileError};
use crate::record::{self, SharedRecord};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Input(#[from] ReconcileError),
    #[error("{0} has no records: a model needs entries and exits to learn from")]
    Empty(String),
    #[error("cannot write the model to {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Option(String),
    #[error("cannot read the hub's configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot read the hub's store {path}: {message}")]
    Store { path: String, message: String },
    #[error("cannot read the model {path}: {message}")]
    ReadModel { path: String, message: String },
}

/// Where the records to learn from are.
#[derive(Clone, Debug)]
pub enum Source {
    /// Canonical CSV files, as `entrex reconcile` reads them.
    Csv { entries: PathBuf, exits: PathBuf },
    /// A stopped hub's store, found through its configuration file: its own
    /// entries, the exits its partners sent, and its analysts' review
    /// decisions, which check the model (they do not train it).
    Hub { config: PathBuf },
}

pub struct Options {
    pub source: Source,
    pub out: PathBuf,
    /// Random pairs for u.
    pub random_pairs: usize,
    /// Entries taken per blocking key for one exit (the newest before it).
    pub max_candidates: usize,
    pub max_iterations: usize,
    pub threads: usize,
    /// Family names whose frequency the model lists for the
    /// term-frequency adjustment (the commonest; 0: no adjustment).
    pub term_frequencies: usize,
    /// Keep u as the random pairs give it (Splink's way); otherwise (the
    /// default) EM re-estimates u over the candidate pairs too, starting
    /// from the random pairs' u.
    pub u_random: bool,
    /// Leading letters of a name in blocking keys, written into the model
    /// (`blocking.name_letters`); none, the matcher's default.
    pub name_letters: Option<usize>,
}

pub const DEFAULT_RANDOM_PAIRS: usize = 2_000_000;
pub const DEFAULT_MAX_ITERATIONS: usize = 200;
pub const DEFAULT_TERM_FREQUENCIES: usize = 20_000;

pub struct Trained {
    pub model: Model,
    /// The model and the built-in weights against the hub's review labels.
    pub labels: Option<LabelCheck>,
    pub candidate_pairs: u64,
    pub random_pairs: u64,
    pub iterations: usize,
    pub converged: bool,
    pub took: Duration,
}

impl std::fmt::Display for Trained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n{} candidate pairs, {} random pairs; EM {} after {} iterations; {:.1} s",
            self.model.report(),
            self.candidate_pairs,
            self.random_pairs,
            if self.converged {
                "converged"
            } else {
                "did NOT converge"
            },
            self.iterations,
            self.took.as_secs_f64()
        )?;
        if let Some(check) = &self.labels {
            write!(f, "\n{check}")?;
        }
        Ok(())
    }
}

/// A pair an analyst decided in clerical review: a label.
pub struct Label {
    pub entry: bmt::SharedRecord,
    pub exit: bmt::SharedRecord,
    pub link: bool,
}

/// How a set of weights does on the labels at the hub's link threshold.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Confusion {
    pub true_links: u64,
    pub false_links: u64,
    pub missed_links: u64,
    pub true_non_links: u64,
}

impl Confusion {
    fn of(weights: &model::Weights, labels: &[Label], threshold: f64) -> Confusion {
        let mut c = Confusion::default();
        for l in labels {
            let linked = bm::score_with(weights, &l.entry, &l.exit) >= threshold;
            match (l.link, linked) {
                (true, true) => c.true_links += 1,
                (false, true) => c.false_links += 1,
                (true, false) => c.missed_links += 1,
                (false, false) => c.true_non_links += 1,
            }
        }
        c
    }

    /// Of the pairs it links, the share analysts linked (none linked: 1).
    pub fn precision(&self) -> f64 {
        share(self.true_links, self.true_links + self.false_links)
    }

    /// Of the pairs analysts linked, the share it links (none: 1).
    pub fn recall(&self) -> f64 {
        share(self.true_links, self.true_links + self.missed_links)
    }
}

/// `part` of `whole`; 1 when there is no whole (nothing to get wrong).
fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

/// The trained model and the built-in weights on the review labels.
pub struct LabelCheck {
    pub labels: usize,
    pub links: usize,
    pub threshold: f64,
    pub model: Confusion,
    pub builtin: Confusion,
}

impl std::fmt::Display for LabelCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "review labels: {} pairs decided by analysts ({} link, {} not link), checked at the hub's link threshold {}",
            self.labels,
            self.links,
            self.labels - self.links,
            self.threshold
        )?;
        writeln!(
            f,
            "  (pairs in review were close calls for the matcher of the day: a hard sample, not the whole border)"
        )?;
        for (name, c) in [
            ("trained model", self.model),
            ("built-in weights", self.builtin),
        ] {
            writeln!(
                f,
                "  {name:<17} precision {:.4} recall {:.4} ({} linked as analysts did, {} linked against them, {} not linked that they linked)",
                c.precision(),
                c.recall(),
                c.true_links,
                c.false_links,
                c.missed_links
            )?;
        }
        Ok(())
    }
}

/// What training reads, wherever it comes from.
struct Input {
    entries: Vec<bmt::SharedRecord>,
    exits: Vec<bmt::SharedRecord>,
    labels: Vec<Label>,
    link_threshold: f64,
    described: serde_json::Value,
}

fn read_csv(entries: &Path, exits: &Path) -> Result<Input, TrainError> {
    let read = |path: &Path| -> Result<Vec<bmt::SharedRecord>, TrainError> {
        let (records, _) = reconcile::read_records_with(path, false)?;
        if records.is_empty() {
            return Err(TrainError::Empty(path.display().to_string()));
        }
        Ok(records.iter().map(|r| native_record(&r.record)).collect())
    };
    Ok(Input {
        entries: read(entries)?,
        exits: read(exits)?,
        labels: Vec::new(),
        link_threshold: 0.0,
        described: serde_json::json!({
            "entries": entries.display().to_string(),
            "exits": exits.display().to_string(),
        }),
    })
}

/// A stopped hub's entries, its partners' exits and its review labels.
fn read_hub(config: &Path) -> Result<Input, TrainError> {
    use crate::record::Entry;
    let settings = crate::config::Settings::load(config)?;
    let dir = settings.data_dir.join("store");
    let fail = |e: &dyn std::fmt::Display| TrainError::Store {
        path: dir.display().to_string(),
        message: e.to_string(),
    };
    if !dir.join("db").exists() {
        return Err(fail(&"there is no store there: has this hub run?"));
    }
    let store = crate::store::Store::open(&dir).map_err(|e| {
        fail(&format!(
            "{e} (a running hub holds its store: stop it first, or train on CSV exports with --entries and --exits)"
        ))
    })?;
    let entries: Vec<bmt::SharedRecord> = store
        .entries_after(0, usize::MAX)
        .map_err(|e| fail(&e))?
        .iter()
        .map(|(_, c)| native_record(&c.project()))
        .collect();
    let mut exits = Vec::new();
    let mut labels = Vec::new();
    for partner in &settings.partners {
        for (_, entry) in store
            .inbox_from(&partner.id, 1, usize::MAX)
            .map_err(|e| fail(&e))?
        {
            match entry {
                Entry::Record(r) | Entry::Correction { record: r, .. } => {
                    exits.push(native_record(&r))
                }
                Entry::Deletion { .. } | Entry::SetAside => {}
            }
        }
        for (seq, label) in store.review_labels(&partner.id).map_err(|e| fail(&e))? {
            let exit = store.inbox_record(&partner.id, seq).map_err(|e| fail(&e))?;
            let entry = store.crossing(label.entry_id).map_err(|e| fail(&e))?;
            // Purged or withdrawn since it was decided: nothing to check.
            if let (Some(Entry::Record(exit)), Some(entry)) = (exit, entry) {
                labels.push(Label {
                    entry: native_record(&entry.crossing.project()),
                    exit: native_record(&exit),
                    link: label.decision == crate::store::ReviewDecision::Link,
                });
            }
        }
    }
    for (what, records) in [("entries", &entries), ("exits", &exits)] {
        if records.is_empty() {
            return Err(TrainError::Empty(format!(
                "the hub's store {} ({what})",
                dir.display()
            )));
        }
    }
    Ok(Input {
        entries,
        exits,
        labels,
        link_threshold: settings.matching.link_threshold,
        described: serde_json::json!({ "hub": settings.hub_id, "store": dir.display().to_string() }),
    })
}

/// A hub's record as the matcher's own type.
pub fn native_record(r: &SharedRecord) -> bmt::SharedRecord {
    bmt::SharedRecord {
        given_names: r.given_names.clone(),
        family_name: r.family_name.clone(),
        middle_names: r.middle_names.clone(),
        date_of_birth: bmt::PartialDate {
            year: r.date_of_birth.year,
            month: r.date_of_birth.month,
            day: r.date_of_birth.day,
        },
        nationality: r.nationality.clone(),
        sex: match r.sex {
            record::Sex::F => bmt::Sex::Female,
            record::Sex::M => bmt::Sex::Male,
            record::Sex::X => bmt::Sex::Unspecified,
        },
        document_type: r.document_type.clone(),
        document_number: r.document_number.clone(),
        document_country: r.document_country.clone(),
        entered_at: r.entered_at,
        port_code: r.port_code.clone(),
    }
}

pub fn train(options: &Options) -> Result<Trained, TrainError> {
    let started = Instant::now();
    if let Some(n) = options.name_letters
        && !model::NAME_LETTERS.contains(&n)
    {
        return Err(TrainError::Option(format!(
            "--name-letters {n}: from {} to {} letters are allowed",
            model::NAME_LETTERS.start(),
            model::NAME_LETTERS.end()
        )));
    }
    let Input {
        entries,
        exits,
        labels,
        link_threshold,
        described,
    } = match &options.source {
        Source::Csv { entries, exits } => read_csv(entries, exits)?,
        Source::Hub { config } => read_hub(config)?,
    };
    let (candidates, random) = tally(&entries, &exits, options);
    let estimate = model::estimate_with(
        &candidates,
        &random,
        options.max_iterations,
        !options.u_random,
    );
    let mut trained = described;
    trained.as_object_mut().expect("an object").extend(
        serde_json::json!({
        "candidate_pairs": candidates.pairs,
        "random_pairs": random.pairs,
        "iterations": estimate.iterations,
        "converged": estimate.converged,
        "max_candidates": options.max_candidates,
        "u": if options.u_random { "random pairs" } else { "EM over the candidate pairs, from random pairs'" },
    })
        .as_object()
        .expect("an object")
        .clone(),
    );
    let model = estimate.model(trained);
    let mut model = model;
    model.blocking = options
        .name_letters
        .map(|name_letters| model::Blocking { name_letters });
    if options.term_frequencies > 0 {
        model.term_frequencies = model::TermFrequencies::count(
            entries
                .iter()
                .map(bm::Prepared::new)
                .collect::<Vec<_>>()
                .iter()
                .map(|p| p.family_key()),
            options.term_frequencies,
        );
    }
    let mut json = serde_json::to_string_pretty(&model).expect("a model is JSON");
    json.push('\n');
    // Whole or not at all: a hub may be reading the model being replaced.
    let mut temp = options.out.clone().into_os_string();
    temp.push(".partial");
    std::fs::write(&temp, json.as_bytes())
        .and_then(|()| std::fs::rename(&temp, &options.out))
        .map_err(|source| TrainError::Write {
            path: options.out.display().to_string(),
            source,
        })?;
    let labels = if labels.is_empty() {
        None
    } else {
        let weights = model.weights().map_err(|message| TrainError::ReadModel {
            path: options.out.display().to_string(),
            message,
        })?;
        Some(LabelCheck {
            labels: labels.len(),
            links: labels.iter().filter(|l| l.link).count(),
            threshold: link_threshold,
            model: Confusion::of(&weights, &labels, link_threshold),
            builtin: Confusion::of(&model::Weights::builtin(), &labels, link_threshold),
        })
    };
    Ok(Trained {
        model,
        labels,
        candidate_pairs: candidates.pairs,
        random_pairs: random.pairs,
        iterations: estimate.iterations,
        converged: estimate.converged,
        took: started.elapsed(),
    })
}

/// The comparison vectors of the candidate pairs (every exit with the
/// entries sharing a blocking key, entered before it) and of random pairs.
fn tally(
    entries: &[bmt::SharedRecord],
    exits: &[bmt::SharedRecord],
    options: &Options,
) -> (Tally, Tally) {
    // A prepared record caches forms lazily (not shareable between
    // threads): the main thread prepares every entry once for the index and
    // the random pairs; each worker prepares its exits, and the entries it
    // meets, itself.
    let prepared_entries: Vec<bm::Prepared> = entries.iter().map(bm::Prepared::new).collect();
    let letters = options.name_letters.unwrap_or(bm::KEY_PREFIX_LEN);
    // Entries per key, oldest first, so the newest before an exit are a
    // suffix of what precedes it.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| entries[i].entered_at);
    let mut index: HashMap<String, Vec<u32>> = HashMap::new();
    for &i in &order {
        for key in bm::block_keys_with(&prepared_entries[i], letters) {
            index.entry(key).or_default().push(i as u32);
        }
    }
    let threads = options.threads.max(1);
    let chunk = exits.len().div_ceil(threads).max(1);
    let max = options.max_candidates.max(1);
    let mut candidates = Tally::default();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..exits.len())
            .step_by(chunk)
            .map(|start| {
                let index = &index;
                s.spawn(move || {
                    let mut tally = Tally::default();
                    let mut prepared: Vec<Option<bm::Prepared>> = std::iter::repeat_with(|| None)
                        .take(entries.len())
                        .collect();
                    let mut seen: Vec<u32> = Vec::new();
                    for exit in exits.iter().skip(start).take(chunk) {
                        let at = exit.entered_at;
                        let exit = bm::Prepared::new(exit);
                        seen.clear();
                        for key in bm::block_keys_with(&exit, letters) {
                            let Some(list) = index.get(&key) else {
                                continue;
                            };
                            let before =
                                list.partition_point(|&e| entries[e as usize].entered_at <= at);
                            seen.extend_from_slice(&list[before.saturating_sub(max)..before]);
                        }
                        seen.sort_unstable();
                        seen.dedup();
                        for &e in &seen {
                            let entry = prepared[e as usize]
                                .get_or_insert_with(|| bm::Prepared::new(&entries[e as usize]));
                            tally.add(bm::compare(entry, &exit).levels());
                        }
                    }
                    tally
                })
            })
            .collect();
        for worker in workers {
            let t = worker.join().expect("a training thread panicked");
            for (levels, n) in t.counts {
                *candidates.counts.entry(levels).or_default() += n;
            }
            candidates.pairs += t.pairs;
        }
    });
    let mut random = Tally::default();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2013);
    for _ in 0..options.random_pairs {
        let e = rng.gen_range(0..entries.len());
        let x = rng.gen_range(0..exits.len());
        let exit = bm::Prepared::new(&exits[x]);
        random.add(bm::compare(&prepared_entries[e], &exit).levels());
    }
    (candidates, random)
}

/// The configuration JSON that gives the matcher the model in `path`,
/// checked first so that a wrong file is named here, not by the plugin.
pub fn model_config(path: &Path) -> Result<String, TrainError> {
    let fail = |message: String| TrainError::ReadModel {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let model: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        fail(format!(
            "it is not JSON ({e}); give a file `entrex matcher train` wrote"
        ))
    })?;
    let config = serde_json::json!({ "model": model }).to_string();
    bm::read_config(&config).map_err(fail)?;
    Ok(config)
}
