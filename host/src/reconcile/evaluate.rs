//! `entrex reconcile --truth`: how good the links are, on a labelled sample.
//!
//! Any agency can label a sample of its own records (which exit is which
//! entry) and measure the matcher on it: precision, recall and F1 of the
//! links, what went to clerical review, recall per kind of error when the
//! labels say which errors an exit carries, and every pair it got wrong.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use super::{Pair, ReconcileError, split_csv_line};
use crate::store::Band;

/// One labelled pair: this exit is that entry, and (optionally) the kinds
/// of error its record carries.
#[derive(Clone, Debug)]
pub struct TruePair {
    pub entry: usize,
    pub exit: usize,
    pub kinds: Vec<String>,
}

/// Reads a truth file: CSV with a header naming `entry_id` and `exit_id`
/// (and optionally `kinds`, `;`-separated), one true pair a line. Ids must
/// be in the entries and exits files.
pub fn read_truth(
    path: &Path,
    entry_ids: &[String],
    exit_ids: &[String],
) -> Result<Vec<TruePair>, ReconcileError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ReconcileError::Read {
        path: name.clone(),
        source,
    })?;
    let input = |line: usize, message: String| ReconcileError::Input {
        path: name.clone(),
        line,
        column: None,
        message,
    };
    let mut lines = text
        .trim_start_matches('\u{feff}')
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((header_line, header)) = lines.next() else {
        return Err(input(1, "the file is empty; it needs a header line entry_id,exit_id[,kinds] and one true pair a line".into()));
    };
    let names: Vec<String> = split_csv_line(header)
        .map_err(|(_, why)| input(header_line, why.to_string()))?
        .into_iter()
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    let column = |wanted: &str| names.iter().position(|n| n == wanted);
    let (Some(entry_col), Some(exit_col)) = (column("entry_id"), column("exit_id")) else {
        return Err(input(
            header_line,
            "the header must name entry_id and exit_id (and may name kinds)".into(),
        ));
    };
    let kinds_col = column("kinds");
    let index = |ids: &[String]| -> HashMap<String, usize> {
        ids.iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect()
    };
    let (entries, exits) = (index(entry_ids), index(exit_ids));
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (line, text) in lines {
        let fields = split_csv_line(text).map_err(|(_, why)| input(line, why.to_string()))?;
        let get = |c: usize| fields.get(c).map(|f| f.trim()).unwrap_or_default();
        let entry = *entries.get(get(entry_col)).ok_or_else(|| {
            input(
                line,
                format!(
                    "entry_id {:?} is not an id in the entries file",
                    get(entry_col)
                ),
            )
        })?;
        let exit = *exits.get(get(exit_col)).ok_or_else(|| {
            input(
                line,
                format!("exit_id {:?} is not an id in the exits file", get(exit_col)),
            )
        })?;
        if !seen.insert(exit) {
            return Err(input(
                line,
                format!(
                    "exit {:?} is labelled twice; an exit is one traveller's one entry",
                    get(exit_col)
                ),
            ));
        }
        let kinds = kinds_col
            .map(|c| {
                get(c)
                    .split(';')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        out.push(TruePair { entry, exit, kinds });
    }
    Ok(out)
}

/// Recall of one kind of error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KindRecall {
    pub pairs: usize,
    pub linked: usize,
    pub in_review: usize,
    /// True pairs blocking made candidates (pairs completeness).
    pub blocked: usize,
}

/// A pair the matcher got wrong.
#[derive(Clone, Debug)]
pub enum Wrong {
    /// Linked, but the exit is another entry's (or no entry's).
    FalseLink {
        pair: Pair,
        true_entry: Option<usize>,
    },
    /// A true pair not linked (`proposed`: what the matcher did with the
    /// exit; `candidate`: whether blocking brought the pair together, once
    /// measured).
    Missed {
        truth: TruePair,
        proposed: Option<Pair>,
        candidate: Option<bool>,
    },
}

#[derive(Clone, Debug)]
pub struct Evaluation {
    pub true_pairs: usize,
    pub links: usize,
    pub correct_links: usize,
    /// Pairs sent to clerical review, and how many of them are true.
    pub reviews: usize,
    pub correct_reviews: usize,
    pub by_kind: BTreeMap<String, KindRecall>,
    pub wrong: Vec<Wrong>,
    /// With [`Evaluation::measure_blocking`]: true pairs among the
    /// candidates, and candidates per exit.
    pub blocking: Option<Blocking>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Blocking {
    pub blocked: usize,
    pub candidates: usize,
    pub exits: usize,
}

impl Evaluation {
    pub fn precision(&self) -> f64 {
        ratio(self.correct_links, self.links)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.correct_links, self.true_pairs)
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 1.0 } else { n as f64 / d as f64 }
}

/// Compares the matcher's pairs with the truth.
pub fn evaluate(truth: &[TruePair], pairs: &[Pair]) -> Evaluation {
    let true_entry: HashMap<usize, usize> = truth.iter().map(|t| (t.exit, t.entry)).collect();
    let proposed: HashMap<usize, &Pair> = pairs.iter().map(|p| (p.exit, p)).collect();
    let mut e = Evaluation {
        true_pairs: truth.len(),
        links: 0,
        correct_links: 0,
        reviews: 0,
        correct_reviews: 0,
        by_kind: BTreeMap::new(),
        wrong: Vec::new(),
        blocking: None,
    };
    for p in pairs {
        let right = true_entry.get(&p.exit) == Some(&p.entry);
        match p.band {
            Band::Link => {
                e.links += 1;
                if right {
                    e.correct_links += 1;
                } else {
                    e.wrong.push(Wrong::FalseLink {
                        pair: *p,
                        true_entry: true_entry.get(&p.exit).copied(),
                    });
                }
            }
            Band::Review => {
                e.reviews += 1;
                e.correct_reviews += usize::from(right);
            }
        }
    }
    for t in truth {
        let p = proposed.get(&t.exit).copied();
        let right = p.filter(|p| p.entry == t.entry);
        let linked = right.is_some_and(|p| p.band == Band::Link);
        let reviewed = right.is_some_and(|p| p.band == Band::Review);
        let kinds: Vec<&str> = if t.kinds.is_empty() {
            vec!["(unlabelled)"]
        } else {
            t.kinds.iter().map(String::as_str).collect()
        };
        for kind in kinds {
            let k = e.by_kind.entry(kind.to_owned()).or_default();
            k.pairs += 1;
            k.linked += usize::from(linked);
            k.in_review += usize::from(reviewed);
        }
        if !linked {
            e.wrong.push(Wrong::Missed {
                candidate: None,
                truth: t.clone(),
                proposed: p.copied(),
            });
        }
    }
    e
}

impl Evaluation {
    /// Pairs completeness: which true pairs blocking brought together at all
    /// (`candidates`: sorted (exit, entry)), overall and per kind. A true
    /// pair missing there cannot be linked whatever the weights.
    pub fn measure_blocking(
        &mut self,
        truth: &[TruePair],
        candidates: &[(u32, u32)],
        exits: usize,
    ) {
        let mut blocked = 0;
        for t in truth {
            let found = candidates
                .binary_search(&(t.exit as u32, t.entry as u32))
                .is_ok();
            blocked += usize::from(found);
            let kinds: Vec<&str> = if t.kinds.is_empty() {
                vec!["(unlabelled)"]
            } else {
                t.kinds.iter().map(String::as_str).collect()
            };
            for kind in kinds {
                if let Some(k) = self.by_kind.get_mut(kind) {
                    k.blocked += usize::from(found);
                }
            }
        }
        for w in &mut self.wrong {
            if let Wrong::Missed {
                truth, candidate, ..
            } = w
            {
                *candidate = Some(
                    candidates
                        .binary_search(&(truth.exit as u32, truth.entry as u32))
                        .is_ok(),
                );
            }
        }
        self.blocking = Some(Blocking {
            blocked,
            candidates: candidates.len(),
            exits,
        });
    }
}

/// How many wrong pairs the summary prints (all are in the `.wrong.csv`).
const PRINTED_WRONG: usize = 20;

impl Evaluation {
    /// The summary for people; `entry_ids`/`exit_ids` name the records.
    pub fn describe(&self, entry_ids: &[String], exit_ids: &[String]) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "against the truth ({} true pairs): precision {:.4}, recall {:.4}, F1 {:.4} ({} of {} links right); clerical review {} pairs, {} of them true",
            self.true_pairs,
            self.precision(),
            self.recall(),
            self.f1(),
            self.correct_links,
            self.links,
            self.reviews,
            self.correct_reviews
        );
        if let Some(b) = &self.blocking {
            let _ = writeln!(
                s,
                "blocking: {} of {} true pairs among the candidates (pairs completeness {:.4}); {:.2} candidates per exit",
                b.blocked,
                self.true_pairs,
                ratio(b.blocked, self.true_pairs),
                b.candidates as f64 / b.exits.max(1) as f64
            );
        }
        if self.by_kind.len() > 1 || !self.by_kind.contains_key("(unlabelled)") {
            let _ = writeln!(
                s,
                "recall by kind of error (linked; in review{}):",
                if self.blocking.is_some() {
                    "; blocked: pairs completeness"
                } else {
                    ""
                }
            );
            for (kind, k) in &self.by_kind {
                let _ = write!(
                    s,
                    "  {kind:<28} {:>8} pairs  recall {:.4}  review {}",
                    k.pairs,
                    ratio(k.linked, k.pairs),
                    k.in_review
                );
                if self.blocking.is_some() {
                    let _ = write!(s, "  blocked {:.4}", ratio(k.blocked, k.pairs));
                }
                let _ = writeln!(s);
            }
        }
        let (false_links, missed) = self.wrong.iter().fold((0, 0), |(f, m), w| match w {
            Wrong::FalseLink { .. } => (f + 1, m),
            Wrong::Missed { .. } => (f, m + 1),
        });
        let _ = writeln!(
            s,
            "wrong: {false_links} false links, {missed} true pairs not linked"
        );
        for w in self.wrong.iter().take(PRINTED_WRONG) {
            let _ = writeln!(s, "  {}", describe_wrong(w, entry_ids, exit_ids));
        }
        if self.wrong.len() > PRINTED_WRONG {
            let _ = writeln!(s, "  ... and {} more", self.wrong.len() - PRINTED_WRONG);
        }
        s
    }
}

fn describe_wrong(w: &Wrong, entry_ids: &[String], exit_ids: &[String]) -> String {
    match w {
        Wrong::FalseLink { pair, true_entry } => format!(
            "false link: exit {} to entry {} (score {:.3}); it is {}",
            exit_ids[pair.exit],
            entry_ids[pair.entry],
            pair.score,
            true_entry.map_or("no entry's exit".into(), |e| format!(
                "entry {}'s",
                entry_ids[e]
            ))
        ),
        Wrong::Missed {
            truth, proposed, ..
        } => format!(
            "missed: exit {} is entry {} [{}]; {}",
            exit_ids[truth.exit],
            entry_ids[truth.entry],
            truth.kinds.join(";"),
            match proposed {
                None => "nothing proposed".to_owned(),
                Some(p) if p.entry == truth.entry =>
                    format!("sent to review (score {:.3})", p.score),
                Some(p) => format!(
                    "{} to entry {} (score {:.3})",
                    if p.band == Band::Link {
                        "linked"
                    } else {
                        "reviewed"
                    },
                    entry_ids[p.entry],
                    p.score
                ),
            }
        ),
    }
}

/// Writes every wrong pair as CSV:
/// `what,exit_id,true_entry_id,proposed_entry_id,score,band,kinds,candidate`
/// (`candidate`: for a missed pair, whether blocking brought it together:
/// `yes`, or `no` when no weights could have linked it).
pub fn write_wrong(
    path: &Path,
    e: &Evaluation,
    entry_ids: &[String],
    exit_ids: &[String],
) -> Result<(), ReconcileError> {
    use std::io::Write;
    let failed = |source| ReconcileError::Write {
        path: path.display().to_string(),
        source,
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(failed)?);
    let band = |b: Band| if b == Band::Link { "link" } else { "review" };
    let mut write = || -> std::io::Result<()> {
        writeln!(
            out,
            "what,exit_id,true_entry_id,proposed_entry_id,score,band,kinds,candidate"
        )?;
        for w in &e.wrong {
            let (what, exit, truth, proposed, kinds, candidate) = match w {
                Wrong::FalseLink { pair, true_entry } => (
                    "false_link",
                    pair.exit,
                    *true_entry,
                    Some(pair),
                    String::new(),
                    "",
                ),
                Wrong::Missed {
                    truth,
                    proposed,
                    candidate,
                } => (
                    "missed",
                    truth.exit,
                    Some(truth.entry),
                    proposed.as_ref(),
                    truth.kinds.join(";"),
                    match candidate {
                        Some(true) => "yes",
                        Some(false) => "no",
                        None => "",
                    },
                ),
            };
            let fields = [
                what.to_owned(),
                exit_ids[exit].clone(),
                truth.map(|t| entry_ids[t].clone()).unwrap_or_default(),
                proposed
                    .map(|p| entry_ids[p.entry].clone())
                    .unwrap_or_default(),
                proposed
                    .map(|p| format!("{:.6}", p.score))
                    .unwrap_or_default(),
                proposed
                    .map(|p| band(p.band).to_owned())
                    .unwrap_or_default(),
                kinds,
                candidate.to_owned(),
            ];
            let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
            super::write_csv_line(&mut out, &refs)?;
        }
        out.flush()
    };
    write().map_err(failed)
}
