//! A trained model: the m- and u-probability of every comparison level,
//! estimated from a hub's own unlabelled records (`entrex matcher train`),
//! and the log2 prior odds of a candidate pair being a true one.
//!
//! The model is data the matcher is configured with (`{"model": {...}}`),
//! never code: an analyst reads it, a hub versions it, the same plugin runs
//! with any model or with none (the built-in weights of [`Comparison`]).
//!
//! Estimation follows Fellegi–Sunter as Splink and fastLink do it: u from
//! random pairs of an entry and an exit (almost all of them two different
//! people), then m and the share of true pairs by expectation–maximisation
//! over the candidate pairs blocking yields, u held fixed. A null level
//! (a value unknown on one side) is not evidence: its weight is 0 whatever
//! its frequencies, and it is left out of every product.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::{
    Agreement, Comparison, DobLevel, DocumentLevel, MiddleLevel, NameLevel, NationalityLevel,
    PRIOR_LOG2_ODDS, sex_weight,
};

/// What a model file says it is; a model of another format is refused.
pub const FORMAT: &str = "entrex-matcher-model/2";
pub const MATCHER: &str = "biographic-matcher";

/// One comparison: its name in the model and its levels, in the order of
/// the enum's variants (a level's index is `variant as usize`).
pub struct Spec {
    pub name: &'static str,
    pub levels: &'static [&'static str],
    /// The levels that are no evidence: "unknown on one side", and values
    /// that cannot be compared (documents of two countries).
    pub nulls: &'static [usize],
    /// Levels that say "the same" and may never weigh against a match, and
    /// levels that say "different" and may never weigh for one, whatever
    /// EM estimates. Blocking makes comparisons depend on one another: a
    /// pair whose births differ is a candidate only when its document is
    /// the same, so among candidates a different birth date "predicts" a
    /// match, and a model saying so would be right about the candidates
    /// and wrong about people.
    pub agree: &'static [usize],
    pub disagree: &'static [usize],
}

pub const SPECS: [Spec; 6] = [
    Spec {
        name: "names",
        levels: &[
            "exact",
            "variant",
            "swapped",
            "phonetic",
            "typo",
            "close",
            "two_typos",
            "partial",
            "different",
            "unknown",
        ],
        nulls: &[NameLevel::Unknown as usize],
        agree: &[
            NameLevel::Exact as usize,
            NameLevel::Variant as usize,
            NameLevel::Swapped as usize,
        ],
        disagree: &[NameLevel::Different as usize],
    },
    Spec {
        name: "middle_names",
        levels: &["agree", "missing", "disagree"],
        nulls: &[MiddleLevel::Missing as usize],
        agree: &[MiddleLevel::Agree as usize],
        disagree: &[MiddleLevel::Disagree as usize],
    },
    Spec {
        name: "date_of_birth",
        levels: &[
            "exact",
            "partial_equal",
            "day_month_swap",
            "year_only",
            "near",
            "different",
            "unknown",
        ],
        nulls: &[DobLevel::Unknown as usize],
        agree: &[DobLevel::Exact as usize, DobLevel::PartialEqual as usize],
        disagree: &[DobLevel::Different as usize],
    },
    Spec {
        name: "document",
        levels: &[
            "same",
            "similar",
            "renewed",
            "other",
            "other_country",
            "missing",
        ],
        nulls: &[
            DocumentLevel::OtherCountry as usize,
            DocumentLevel::Missing as usize,
        ],
        agree: &[DocumentLevel::Same as usize],
        disagree: &[DocumentLevel::Other as usize],
    },
    Spec {
        name: "nationality",
        levels: &[
            "same",
            "same_other_document",
            "different",
            "different_other_document",
            "unknown",
        ],
        nulls: &[NationalityLevel::Unknown as usize],
        agree: &[NationalityLevel::Same as usize],
        disagree: &[
            NationalityLevel::Different as usize,
            NationalityLevel::DifferentOtherDocument as usize,
        ],
    },
    Spec {
        name: "sex",
        levels: &["same", "different", "unknown"],
        nulls: &[Agreement::Unknown as usize],
        agree: &[Agreement::Same as usize],
        disagree: &[Agreement::Different as usize],
    },
];

impl Spec {
    /// A level's weight from its m and u: 0 for the null level, and held to
    /// the side its meaning allows (see [`Spec::agree`]).
    pub fn is_null(&self, level: usize) -> bool {
        self.nulls.contains(&level)
    }

    pub fn weight(&self, level: usize, m: f64, u: f64) -> f64 {
        if self.is_null(level) {
            return 0.0;
        }
        let w = (m / u).log2();
        if self.agree.contains(&level) {
            w.max(0.0)
        } else if self.disagree.contains(&level) {
            w.min(0.0)
        } else {
            w
        }
    }

    /// Whether the weight of `level` was held by its side.
    pub fn held(&self, level: usize, m: f64, u: f64) -> bool {
        !self.is_null(level) && self.weight(level, m, u) != (m / u).log2()
    }
}

/// A comparison vector: each comparison's level index.
pub type Levels = [u8; 6];

impl Comparison {
    pub fn levels(&self) -> Levels {
        [
            self.names as u8,
            self.middle as u8,
            self.dob as u8,
            self.document as u8,
            self.nationality as u8,
            self.sex as u8,
        ]
    }
}

/// The weights a score is computed with: log2 Bayes factor per level and
/// the prior. The built-in ones are hand-set; a model's are learned.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    pub table: [Vec<f64>; 6],
    /// Leading letters of a name in blocking keys ([`Blocking`]).
    pub name_letters: usize,
    pub prior_log2_odds: f64,
    pub term_frequencies: Option<Adjustment>,
}

/// Splink's term-frequency adjustment for agreeing family names: the
/// level's u is the chance two different people share *some* family name;
/// for a given name it is that name's frequency. The weight moves by
/// log2(u_level / frequency), within [`MIN_ADJUST`, `MAX_ADJUST`] bits.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjustment {
    frequency: HashMap<String, f64>,
    other: f64,
    /// Sum of squared frequencies: the chance two random records agree.
    agree: f64,
}

pub const MIN_ADJUST: f64 = -4.0;
pub const MAX_ADJUST: f64 = 6.0;

impl Adjustment {
    pub fn adjustment(&self, family: &str) -> f64 {
        let f = self.frequency.get(family).copied().unwrap_or(self.other);
        (self.agree / f).log2().clamp(MIN_ADJUST, MAX_ADJUST)
    }
}

/// Family names and their share of the records a model was trained on:
/// the `top` commonest by name, the rest as one average.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TermFrequencies {
    pub family_name: std::collections::BTreeMap<String, f64>,
    /// The share of any one family name not listed.
    pub other: f64,
    /// The chance two random records share a family name (all names, the
    /// unlisted ones included).
    pub agree: f64,
}

impl TermFrequencies {
    /// Counts `names` (as [`crate::Prepared::family_key`] gives them),
    /// keeping the `top` commonest.
    pub fn count<'a>(names: impl Iterator<Item = &'a str>, top: usize) -> Option<Self> {
        let mut counts: HashMap<&str, u64> = HashMap::new();
        let mut total = 0u64;
        for name in names.filter(|n| !n.is_empty()) {
            *counts.entry(name).or_default() += 1;
            total += 1;
        }
        if total == 0 {
            return None;
        }
        let total = total as f64;
        let agree = counts.values().map(|&c| (c as f64 / total).powi(2)).sum();
        let mut sorted: Vec<(&str, u64)> = counts.into_iter().collect();
        sorted.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let rest = sorted.split_off(top.min(sorted.len()));
        let rest_count: u64 = rest.iter().map(|(_, c)| c).sum();
        let other = if rest.is_empty() {
            sorted.last().map_or(1.0, |(_, c)| *c as f64 / total)
        } else {
            rest_count as f64 / rest.len() as f64 / total
        };
        Some(TermFrequencies {
            family_name: sorted
                .into_iter()
                .map(|(n, c)| (n.to_owned(), c as f64 / total))
                .collect(),
            other,
            agree,
        })
    }

    fn adjustment(&self) -> Result<Adjustment, String> {
        let ok = |p: f64| p > 0.0 && p <= 1.0;
        if !ok(self.other) || !ok(self.agree) {
            return Err(
                "term_frequencies: other and agree must be probabilities above 0 and at most 1"
                    .into(),
            );
        }
        if let Some((name, f)) = self.family_name.iter().find(|(_, f)| !ok(**f)) {
            return Err(format!(
                "term_frequencies: the share of {name:?} is {f}; a probability above 0 and at most 1 is needed"
            ));
        }
        Ok(Adjustment {
            frequency: self.family_name.clone().into_iter().collect(),
            other: self.other,
            agree: self.agree,
        })
    }
}

impl Weights {
    pub fn builtin() -> Weights {
        use Agreement as A;
        let names = [
            NameLevel::Exact,
            NameLevel::Variant,
            NameLevel::Swapped,
            NameLevel::Phonetic,
            NameLevel::Typo,
            NameLevel::Close,
            NameLevel::TwoTypos,
            NameLevel::Partial,
            NameLevel::Different,
            NameLevel::Unknown,
        ];
        let middle = [
            MiddleLevel::Agree,
            MiddleLevel::Missing,
            MiddleLevel::Disagree,
        ];
        let dob = [
            DobLevel::Exact,
            DobLevel::PartialEqual,
            DobLevel::DayMonthSwap,
            DobLevel::YearOnly,
            DobLevel::Near,
            DobLevel::Different,
            DobLevel::Unknown,
        ];
        let document = [
            DocumentLevel::Same,
            DocumentLevel::Similar,
            DocumentLevel::Renewed,
            DocumentLevel::Other,
            DocumentLevel::OtherCountry,
            DocumentLevel::Missing,
        ];
        let nationality = [
            NationalityLevel::Same,
            NationalityLevel::SameOtherDocument,
            NationalityLevel::Different,
            NationalityLevel::DifferentOtherDocument,
            NationalityLevel::Unknown,
        ];
        let agreement = [A::Same, A::Different, A::Unknown];
        debug_assert!(names.iter().enumerate().all(|(i, l)| *l as usize == i));
        Weights {
            name_letters: crate::KEY_PREFIX_LEN,
            table: [
                names.iter().map(|l| l.weight()).collect(),
                middle.iter().map(|l| l.weight()).collect(),
                dob.iter().map(|l| l.weight()).collect(),
                document.iter().map(|l| l.weight()).collect(),
                nationality.iter().map(|l| l.weight()).collect(),
                agreement.iter().map(|&l| sex_weight(l)).collect(),
            ],
            prior_log2_odds: PRIOR_LOG2_ODDS,
            term_frequencies: None,
        }
    }

    pub fn weight(&self, levels: &Levels) -> f64 {
        levels
            .iter()
            .zip(&self.table)
            .map(|(&l, w)| w[usize::from(l)])
            .sum()
    }
}

/// A model file, as `entrex matcher train` writes it and the matcher's
/// `configure` reads it. `weight` is written for people and recomputed from
/// `m` and `u` when read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub format: String,
    pub matcher: String,
    /// Log2 odds that a candidate pair is a true one, before its comparisons.
    pub prior_log2_odds: f64,
    pub comparisons: Vec<ComparisonModel>,
    /// How it was estimated (pairs, iterations, source); not used to score.
    #[serde(default)]
    pub trained: Option<serde_json::Value>,
    /// For the term-frequency adjustment; none, no adjustment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term_frequencies: Option<TermFrequencies>,
    /// How records are blocked; none, the matcher's default. A model that
    /// changes it changes every blocking key: a hub rebuilds its index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocking: Option<Blocking>,
}

/// Blocking settings a model may carry.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Blocking {
    /// Leading letters of a name in its blocking keys: more letters, fewer
    /// candidates per exit (for a border with many common names), at the
    /// cost of pairs whose names differ early. From 2 to 6.
    pub name_letters: usize,
}

/// The range of [`Blocking::name_letters`].
pub const NAME_LETTERS: std::ops::RangeInclusive<usize> = 2..=6;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ComparisonModel {
    pub name: String,
    pub levels: Vec<LevelModel>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LevelModel {
    pub level: String,
    /// P(level | the pair is the same person).
    pub m: f64,
    /// P(level | the pair is two people).
    pub u: f64,
    /// log2(m / u); 0 for the null level.
    #[serde(default)]
    pub weight: f64,
}

impl Model {
    /// The weights of a model, after checking it names every comparison and
    /// level this matcher has, each with probabilities in (0, 1].
    pub fn weights(&self) -> Result<Weights, String> {
        if self.format != FORMAT {
            return Err(format!(
                "the model's format is {:?}; this matcher reads {FORMAT:?} (train it again with this version's `entrex matcher train`)",
                self.format
            ));
        }
        if self.matcher != MATCHER {
            return Err(format!(
                "the model was trained for the matcher {:?}, not {MATCHER:?}",
                self.matcher
            ));
        }
        if !self.prior_log2_odds.is_finite() || self.prior_log2_odds.abs() > 64.0 {
            return Err("prior_log2_odds must be a number between -64 and 64".into());
        }
        if self.comparisons.len() != SPECS.len() {
            return Err(format!(
                "the model has {} comparisons; this matcher has {}: {}",
                self.comparisons.len(),
                SPECS.len(),
                SPECS.map(|s| s.name).join(", ")
            ));
        }
        let mut table: [Vec<f64>; 6] = Default::default();
        for ((spec, c), weights) in SPECS.iter().zip(&self.comparisons).zip(&mut table) {
            if c.name != spec.name {
                return Err(format!(
                    "comparison {:?} where this matcher has {:?} (the comparisons are, in order: {})",
                    c.name,
                    spec.name,
                    SPECS.map(|s| s.name).join(", ")
                ));
            }
            let names: Vec<&str> = c.levels.iter().map(|l| l.level.as_str()).collect();
            if names != spec.levels {
                return Err(format!(
                    "comparison {:?} has the levels {}; this matcher's are, in order: {}",
                    spec.name,
                    names.join(", "),
                    spec.levels.join(", ")
                ));
            }
            for (i, l) in c.levels.iter().enumerate() {
                // A null level weighs nothing, so it may have been never seen.
                let null = spec.is_null(i);
                for (what, p) in [("m", l.m), ("u", l.u)] {
                    if !((p > 0.0 || (null && p == 0.0)) && p <= 1.0) {
                        return Err(format!(
                            "{}.{}: {what} is {p}; a probability above 0 and at most 1 is needed",
                            spec.name, l.level
                        ));
                    }
                }
                weights.push(spec.weight(i, l.m, l.u));
            }
        }
        if let Some(b) = &self.blocking
            && !NAME_LETTERS.contains(&b.name_letters)
        {
            return Err(format!(
                "blocking.name_letters is {}; from {} to {} letters are allowed",
                b.name_letters,
                NAME_LETTERS.start(),
                NAME_LETTERS.end()
            ));
        }
        Ok(Weights {
            table,
            name_letters: self
                .blocking
                .map_or(crate::KEY_PREFIX_LEN, |b| b.name_letters),
            prior_log2_odds: self.prior_log2_odds,
            term_frequencies: self
                .term_frequencies
                .as_ref()
                .map(TermFrequencies::adjustment)
                .transpose()?,
        })
    }
}

/// Comparison vectors and how many pairs showed each.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub counts: HashMap<Levels, u64>,
    pub pairs: u64,
}

impl Tally {
    pub fn add(&mut self, levels: Levels) {
        *self.counts.entry(levels).or_default() += 1;
        self.pairs += 1;
    }

    /// Share of pairs at each level of each comparison, null levels
    /// included, with one pseudo-pair per level so that a level random
    /// pairs never showed still has a u above 0.
    pub fn frequencies(&self) -> [Vec<f64>; 6] {
        let mut f: [Vec<f64>; 6] = SPECS.map(|s| vec![1.0; s.levels.len()]);
        for (levels, &n) in &self.counts {
            for (k, &l) in levels.iter().enumerate() {
                f[k][usize::from(l)] += n as f64;
            }
        }
        for v in &mut f {
            let total: f64 = v.iter().sum();
            v.iter_mut().for_each(|x| *x /= total);
        }
        f
    }
}

/// How an estimation went.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub m: [Vec<f64>; 6],
    pub u: [Vec<f64>; 6],
    /// Estimated share of true pairs among the candidate pairs.
    pub lambda: f64,
    pub iterations: usize,
    pub converged: bool,
}

/// How many true pairs the starting m (the built-in weights) counts for.
const PRIOR_PAIRS: f64 = 10.0;

/// Estimates u from `random` pairs, then m and the share of true pairs by
/// EM over the `candidates`, starting from the built-in weights.
pub fn estimate(candidates: &Tally, random: &Tally, max_iterations: usize) -> Estimate {
    estimate_with(candidates, random, max_iterations, false)
}

/// [`estimate`], or, with `update_u`, classic EM in which u too is
/// re-estimated over the candidate pairs (starting from the random pairs').
pub fn estimate_with(
    candidates: &Tally,
    random: &Tally,
    max_iterations: usize,
    update_u: bool,
) -> Estimate {
    let mut u = random.frequencies();
    let builtin = Weights::builtin();
    // Start: m proportional to u · 2^weight, the built-in Bayes factors.
    let mut m: [Vec<f64>; 6] = Default::default();
    for k in 0..6 {
        let raw: Vec<f64> = u[k]
            .iter()
            .zip(&builtin.table[k])
            .map(|(u, w)| u * w.exp2())
            .collect();
        let total: f64 = raw.iter().sum();
        m[k] = raw.iter().map(|x| x / total).collect();
    }
    // The start is also a prior worth PRIOR_PAIRS true pairs: a level no
    // true pair of a small sample showed keeps a little of the built-in
    // belief instead of weighing minus infinity.
    let start = m.clone();
    let mut lambda = 0.1;
    let vectors: Vec<(&Levels, f64)> = candidates
        .counts
        .iter()
        .map(|(l, &n)| (l, n as f64))
        .collect();
    let total: f64 = vectors.iter().map(|(_, n)| n).sum();
    let mut iterations = 0;
    let mut converged = false;
    while iterations < max_iterations && total > 0.0 {
        iterations += 1;
        let mut expected: [Vec<f64>; 6] = SPECS.map(|s| vec![0.0; s.levels.len()]);
        let mut expected_u: [Vec<f64>; 6] = SPECS.map(|s| vec![0.0; s.levels.len()]);
        let mut matches = 0.0;
        for (levels, n) in &vectors {
            let (mut pm, mut pu) = (lambda, 1.0 - lambda);
            for (k, &l) in levels.iter().enumerate() {
                let l = usize::from(l);
                if !SPECS[k].is_null(l) {
                    pm *= m[k][l];
                    pu *= u[k][l];
                }
            }
            let p = if pm + pu > 0.0 { pm / (pm + pu) } else { 0.0 };
            matches += n * p;
            for (k, &l) in levels.iter().enumerate() {
                expected[k][usize::from(l)] += n * p;
                expected_u[k][usize::from(l)] += n * (1.0 - p);
            }
        }
        if update_u {
            for k in 0..6 {
                let all: f64 = expected_u[k].iter().sum::<f64>().max(f64::MIN_POSITIVE);
                for l in 0..u[k].len() {
                    let next = (expected_u[k][l] / all).max(1e-9);
                    u[k][l] = next;
                }
            }
        }
        let mut change: f64 = 0.0;
        for k in 0..6 {
            // A null level is no evidence: m is estimated over the others,
            // and the null keeps the share of true pairs that showed it.
            let known: f64 = expected[k]
                .iter()
                .enumerate()
                .filter(|&(l, _)| !SPECS[k].is_null(l))
                .map(|(_, x)| x)
                .sum();
            let all: f64 = expected[k].iter().sum::<f64>().max(f64::MIN_POSITIVE);
            let null_share = (all - known).max(0.0) / all;
            let start_known: f64 = start[k]
                .iter()
                .enumerate()
                .filter(|&(l, _)| !SPECS[k].is_null(l))
                .map(|(_, x)| x)
                .sum();
            for l in 0..m[k].len() {
                let next = if SPECS[k].is_null(l) {
                    expected[k][l] / all
                } else {
                    let prior = PRIOR_PAIRS * start[k][l] / start_known;
                    ((expected[k][l] + prior) / (known + PRIOR_PAIRS) * (1.0 - null_share))
                        .max(1e-9)
                };
                change = change.max((next - m[k][l]).abs());
                m[k][l] = next;
            }
        }
        let next_lambda = (matches / total).clamp(1e-9, 1.0 - 1e-9);
        change = change.max((next_lambda - lambda).abs());
        lambda = next_lambda;
        if change < 1e-7 {
            converged = true;
            break;
        }
    }
    Estimate {
        m,
        u,
        lambda,
        iterations,
        converged,
    }
}

impl Estimate {
    pub fn model(&self, trained: serde_json::Value) -> Model {
        let comparisons = SPECS
            .iter()
            .enumerate()
            .map(|(k, spec)| ComparisonModel {
                name: spec.name.into(),
                levels: spec
                    .levels
                    .iter()
                    .enumerate()
                    .map(|(l, name)| LevelModel {
                        level: (*name).into(),
                        m: self.m[k][l],
                        u: self.u[k][l],
                        weight: spec.weight(l, self.m[k][l], self.u[k][l]),
                    })
                    .collect(),
            })
            .collect();
        Model {
            format: FORMAT.into(),
            matcher: MATCHER.into(),
            prior_log2_odds: (self.lambda / (1.0 - self.lambda)).log2(),
            comparisons,
            trained: Some(trained),
            term_frequencies: None,
            blocking: None,
        }
    }
}

impl Model {
    /// The table an analyst reads before trusting a model.
    pub fn report(&self) -> String {
        let mut out = format!(
            "prior: log2 odds {:.2} that a candidate pair is one person\n{:<14} {:<24} {:>10} {:>12} {:>8}\n",
            self.prior_log2_odds, "comparison", "level", "m", "u", "weight"
        );
        let mut held = 0;
        for (spec, c) in SPECS.iter().zip(&self.comparisons) {
            for (i, l) in c.levels.iter().enumerate() {
                let mark = if spec.held(i, l.m, l.u) {
                    held += 1;
                    format!("  held at 0 (log2(m/u) = {:.2})", (l.m / l.u).log2())
                } else {
                    String::new()
                };
                out.push_str(&format!(
                    "{:<14} {:<24} {:>10.6} {:>12.8} {:>8.2}{mark}\n",
                    c.name, l.level, l.m, l.u, l.weight
                ));
            }
        }
        if let Some(b) = &self.blocking {
            out.push_str(&format!(
                "blocking: names keyed by their first {} letters\n",
                b.name_letters
            ));
        }
        if held > 0 {
            out.push_str(&format!(
                "{held} level(s) held at 0: among the candidate pairs their m/u points the other way than what the level means (blocking makes comparisons depend on one another); the weight is kept on the side its meaning allows\n"
            ));
        }
        out
    }
}
