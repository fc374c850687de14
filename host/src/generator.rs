//! Seeded generator of realistic Canada–US land-border crossings, for the
//! demo, the tests and the benchmarks.
//!
//! # Model
//!
//! Each *trip* is one traveller's entry into country X (record **A**, at hub
//! X, some time in the 30 days before [`Config::day_start`]: the *history*)
//! followed by their exit from X, which is their entry into the other
//! country Y (record **B**, at hub Y, during the day that starts at
//! `day_start`: the *day*). Ingest the history then the day into both hubs;
//! Y shares B with X, where it is the traveller's exit and should be matched
//! to A. About 3% of trips have no A (the traveller entered X by air, or
//! before records began), so their B has nothing to match.
//!
//! Every record is an entry into the hub's own country, in that agency's own
//! source format (see `docs/source-formats.md`):
//!
//! * the CA hub gets CBSA-style CSV documents (header + rows), names as typed
//!   from the data page (`MÜLLER`), in title case now and then, or as read
//!   from the MRZ (`MUELLER`);
//! * the US hub gets CBP-style JSON feeds whose names come only from the
//!   ICAO 9303 MRZ (TD3 passports, TD1 cards), built with
//!   [`entrex_plugin_common::icao`] so every check digit agrees with what the
//!   normaliser checks.
//!
//! Travellers are weighted like land-border traffic: ~65% Canadian or US
//! citizens, ~4% dual citizens whose passport is foreign but who also hold
//! CAN or USA citizenship (citizens: never shared), ~10% permanent residents
//! (CA-PR / US-LPR), the rest third-country nationals. A quarter of the
//! vehicles carry a family (2-5 relatives: usually one family name, same
//! port, same minute, children born within the last 17 years), so about
//! half of the travellers cross with relatives a matcher must not confuse.
//! Modes: mostly vehicle, some pedestrian, bus and ferry, and a few rail and
//! sea (cruise) crossings, which Phase II withholds.
//!
//! Some travellers present a card rather than a passport: Canadian PR cards
//! (`C`, CA hub, CSV only), US permanent resident cards (`C`, TD1 with a
//! 13-character number continued in the optional data) and US passport
//! cards (`I`, TD1). German passports carry `D` in the MRZ, `DEU` in the CSV
//! (sometimes `D` as nationality): [`Truth::person_by_document`] treats the
//! two as one.
//!
//! Between A and B, per trip, the *exit agency* records things differently
//! ([`NoiseKind`]): a typo, a transliteration variant (applied to whichever
//! record is the CA one: `MULLER` against the MRZ's `MUELLER`), given and
//! family name swapped, middle names missing, day and month of birth swapped,
//! or a renewed document. A few records per thousand are malformed
//! ([`MalformedKind`]) and must be rejected by the normalisers.
//!
//! [`Truth`] says who is who: persons, every record by its source id, every
//! trip, and an index from (document country, number) to person.
//!
//! Everything is deterministic for a given [`Config`] (ChaCha8 seeded from
//! [`Config::seed`]).

mod data;

use std::collections::HashMap;
use std::fmt;

use entrex_plugin_common::{dates, icao, names};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use entrex_plugin_common::dates::PartialDate;

use data::{CROSSINGS, Crossing, Culture, MiddleStyle, NATIONS, Nation};

/// The header line of every CA CSV document (the spec's column order).
pub const CA_CSV_HEADER: &str = "record_id,surname,given_name,middle_names,birth_date,sex,nationality,other_citizenships,residency,doc_type,doc_number,doc_issuer,entry_time,port_code,mode,authorised_until";

/// Number of columns in [`CA_CSV_HEADER`].
pub const CA_CSV_COLUMNS: usize = 16;

/// The `feed` value of every US JSON document.
pub const US_FEED: &str = "cbp-entry/1";

const DAY: i64 = 86_400;
/// Days of history before `day_start`.
pub const HISTORY_DAYS: i64 = 30;
/// Share of trips whose entry record A is absent.
pub const MISSING_ENTRY_RATE: f64 = 0.03;

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// How often the exit agency records a trip differently from the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Noise {
    /// ≈5% of trips.
    Light,
    /// ≈15% of trips.
    Moderate,
    /// ≈40% of trips, a quarter of them with two kinds of noise.
    Heavy,
}

impl Noise {
    /// Share of trips with at least one kind of noise.
    pub fn trip_rate(self) -> f64 {
        match self {
            Noise::Light => 0.05,
            Noise::Moderate => 0.15,
            Noise::Heavy => 0.40,
        }
    }

    /// Share of noisy trips that get a second, different kind.
    pub fn second_kind_rate(self) -> f64 {
        match self {
            Noise::Heavy => 0.25,
            _ => 0.0,
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub seed: u64,
    /// Number of trips (persons); each gives one or two records.
    pub trips: usize,
    /// Unix seconds of 00:00Z of the day whose exits are generated; the
    /// history covers the 30 days before it.
    pub day_start: i64,
    pub noise: Noise,
    /// Malformed records per thousand, per hub (default 5). When not zero
    /// and a hub has at least 100 records, each kind applicable to the hub
    /// appears at least once.
    pub malformed_per_mille: u32,
    /// Maximum records per CSV or JSON document.
    pub batch_records: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 2026,
            trips: 10_000,
            // 2026-11-21T00:00:00Z
            day_start: 1_795_219_200,
            noise: Noise::Moderate,
            malformed_per_mille: 5,
            batch_records: 1_000,
        }
    }
}

impl Config {
    /// The default configuration with this seed and number of trips.
    pub fn new(seed: u64, trips: usize) -> Self {
        Config {
            seed,
            trips,
            ..Config::default()
        }
    }
}

/// A national hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hub {
    Ca,
    Us,
}

impl Hub {
    pub fn other(self) -> Hub {
        match self {
            Hub::Ca => Hub::Us,
            Hub::Us => Hub::Ca,
        }
    }

    /// `"CA"` or `"US"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Hub::Ca => "CA",
            Hub::Us => "US",
        }
    }

    /// The hub's country's ICAO code.
    pub fn country(self) -> &'static str {
        match self {
            Hub::Ca => "CAN",
            Hub::Us => "USA",
        }
    }
}

/// Which record of a trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// A: the entry into X, in the history.
    Entry,
    /// B: the entry into Y, i.e. the exit from X, in the day.
    Exit,
}

/// Why a record must be rejected by its normaliser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MalformedKind {
    /// CA: a CSV row with 15 or 17 fields under a 16-column header.
    CsvFieldCount,
    /// CA: nationality `ZZZ`; US: MRZ nationality `ZZZ` (check digits valid).
    UnknownCountry,
    /// CA: birth date `YYYY-02-30`; US: MRZ birth date `YY0230` with a valid
    /// check digit and composite.
    ImpossibleDate,
    /// US: one wrong check digit (document number or date of birth); the
    /// composite is recomputed, so exactly one check fails.
    BadCheckDigit,
}

impl MalformedKind {
    pub const ALL: [MalformedKind; 4] = [
        MalformedKind::CsvFieldCount,
        MalformedKind::UnknownCountry,
        MalformedKind::ImpossibleDate,
        MalformedKind::BadCheckDigit,
    ];

    /// The kinds a hub's format can carry.
    pub fn for_hub(hub: Hub) -> &'static [MalformedKind] {
        match hub {
            Hub::Ca => &[
                MalformedKind::CsvFieldCount,
                MalformedKind::UnknownCountry,
                MalformedKind::ImpossibleDate,
            ],
            Hub::Us => &[
                MalformedKind::UnknownCountry,
                MalformedKind::ImpossibleDate,
                MalformedKind::BadCheckDigit,
            ],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MalformedKind::CsvFieldCount => "csv-field-count",
            MalformedKind::UnknownCountry => "unknown-country",
            MalformedKind::ImpossibleDate => "impossible-date",
            MalformedKind::BadCheckDigit => "bad-check-digit",
        }
    }
}

/// How the exit record B differs from the entry record A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NoiseKind {
    /// One edit (substitution by a neighbouring key, deletion, insertion or
    /// transposition) in the family or first given name of B.
    Typo,
    /// The CA record (A or B, whichever is at the CA hub) writes a name in
    /// another transliteration: accents folded (`MULLER`, `NGUYEN`, where the
    /// MRZ says `MUELLER`) or a known alternative romanisation (`OLEXANDR`).
    Transliteration,
    /// B has the given and family names swapped.
    NameSwap,
    /// B has no middle names.
    MissingMiddle,
    /// B has the day and month of birth swapped (only when the day ≤ 12).
    DobSwap,
    /// B was made with a renewed document: same kind and issuer, new number
    /// and expiry.
    RenewedDocument,
}

impl NoiseKind {
    pub const ALL: [NoiseKind; 6] = [
        NoiseKind::Typo,
        NoiseKind::Transliteration,
        NoiseKind::NameSwap,
        NoiseKind::MissingMiddle,
        NoiseKind::DobSwap,
        NoiseKind::RenewedDocument,
    ];

    /// Relative frequency among noisy trips (when applicable).
    fn weight(self) -> u32 {
        match self {
            NoiseKind::Typo => 30,
            NoiseKind::Transliteration => 15,
            NoiseKind::NameSwap => 10,
            NoiseKind::MissingMiddle => 15,
            NoiseKind::DobSwap => 12,
            NoiseKind::RenewedDocument => 18,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NoiseKind::Typo => "typo",
            NoiseKind::Transliteration => "transliteration",
            NoiseKind::NameSwap => "name-swap",
            NoiseKind::MissingMiddle => "missing-middle",
            NoiseKind::DobSwap => "dob-swap",
            NoiseKind::RenewedDocument => "renewed-document",
        }
    }
}

/// How a traveller crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    Vehicle,
    Pedestrian,
    Bus,
    Ferry,
    Rail,
    Sea,
}

impl Mode {
    /// Upper case, as the CSV writes it (the JSON uses lower case).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Vehicle => "VEHICLE",
            Mode::Pedestrian => "PEDESTRIAN",
            Mode::Bus => "BUS",
            Mode::Ferry => "FERRY",
            Mode::Rail => "RAIL",
            Mode::Sea => "SEA",
        }
    }

    fn as_lower(self) -> &'static str {
        match self {
            Mode::Vehicle => "vehicle",
            Mode::Pedestrian => "pedestrian",
            Mode::Bus => "bus",
            Mode::Ferry => "ferry",
            Mode::Rail => "rail",
            Mode::Sea => "sea",
        }
    }

    /// Phase II scope: land (vehicle, bus), pedestrian and ferry crossings;
    /// rail and sea (cruise) are withheld.
    pub fn in_phase2_scope(self) -> bool {
        !matches!(self, Mode::Rail | Mode::Sea)
    }

    fn bit(self) -> u8 {
        match self {
            Mode::Vehicle => data::V,
            Mode::Pedestrian => data::P,
            Mode::Bus => data::B,
            Mode::Ferry => data::F,
            Mode::Rail => data::R,
            Mode::Sea => data::S,
        }
    }
}

/// Mode weights (per thousand) of a crossing.
const MODE_WEIGHTS: [(Mode, u32); 6] = [
    (Mode::Vehicle, 815),
    (Mode::Pedestrian, 40),
    (Mode::Bus, 60),
    (Mode::Ferry, 35),
    (Mode::Rail, 25),
    (Mode::Sea, 25),
];

/// Sex as printed on the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    Female,
    Male,
    Unspecified,
}

impl Sex {
    /// `F`, `M` or `X` (the CSV form; the MRZ writes `<` for X).
    pub fn as_char(self) -> char {
        match self {
            Sex::Female => 'F',
            Sex::Male => 'M',
            Sex::Unspecified => 'X',
        }
    }

    fn mrz(self) -> char {
        match self {
            Sex::Unspecified => '<',
            s => s.as_char(),
        }
    }
}

/// A permanent residency status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Residency {
    CaPr,
    UsLpr,
}

impl Residency {
    /// `CA-PR` or `US-LPR`, as both source formats write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Residency::CaPr => "CA-PR",
            Residency::UsLpr => "US-LPR",
        }
    }
}

/// A travel document a person holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// ICAO document code: `P` passport (TD3); `C` permanent resident card
    /// or `I` US passport card (TD1).
    pub doc_type: &'static str,
    /// Upper-case letters and digits, unique per issuer.
    pub number: String,
    /// Issuing state as the MRZ prints it (`D` for Germany); the CSV writes
    /// the ISO code (`DEU`).
    pub issuer: &'static str,
    /// Expiry date (year, month, day).
    pub expiry: (i32, u32, u32),
}

impl Document {
    /// Whether the document has a TD1 (card) MRZ rather than TD3.
    pub fn is_card(&self) -> bool {
        self.doc_type != "P"
    }
}

/// One traveller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// As on the data page, natural case with diacritics: `García López`.
    pub family_name: String,
    /// First given name (`""` for a person with a single name).
    pub given_name: String,
    /// Further given names, space separated, `""` when none.
    pub middle_names: String,
    pub dob: PartialDate,
    pub sex: Sex,
    /// ISO 3166-1 alpha-3 of the passport's nationality (`DEU`, not `D`).
    pub nationality: &'static str,
    /// Every citizenship held, the nationality first.
    pub citizenships: Vec<&'static str>,
    pub residency: Vec<Residency>,
    /// Documents held; a renewal adds one.
    pub documents: Vec<Document>,
    /// Holds Canadian or US citizenship: must never be shared.
    pub citizen: bool,
}

/// The truth about one source record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordTruth {
    pub person: usize,
    pub hub: Hub,
    pub trip: usize,
    pub part: Part,
    /// `Some` when the normaliser must reject the record.
    pub malformed: Option<MalformedKind>,
    /// The person holds CAN or USA citizenship.
    pub citizen: bool,
    /// Unix seconds of the crossing.
    pub at: i64,
    pub mode: Mode,
    /// Index in the person's `documents` of the document presented.
    pub document: usize,
}

/// The truth about one trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TripTruth {
    pub person: usize,
    /// X, the country entered first (A's hub); B is at the other hub.
    pub entered: Hub,
    /// A's source id, `None` when the entry was not recorded.
    pub entry: Option<String>,
    /// B's source id.
    pub exit: String,
    pub entry_at: Option<i64>,
    pub exit_at: i64,
    /// Mode of B's crossing.
    pub mode: Mode,
    /// What differs between A and B.
    pub noise: Vec<NoiseKind>,
    /// Last day of the stay authorised on A, as days since 1970-01-01.
    pub authorised_until_day: Option<i64>,
    /// B's day is after A's authorised stay.
    pub overstay: bool,
    /// Trips with the same group travelled together (a family in a car).
    pub group: usize,
    /// Under Phase II rules with every port in scope, Y shares B with X:
    /// not a citizen, B's mode in scope, B well-formed.
    pub expect_shared: bool,
    /// B is shared and X holds a well-formed A to match it to.
    pub expect_matched: bool,
}

/// Ground truth of a generated dataset.
#[derive(Debug, Clone, Default)]
pub struct Truth {
    /// Persons; a person's id is its index.
    pub persons: Vec<Person>,
    /// Every record, by source id (`record_id` / `event_id`).
    pub records: HashMap<String, RecordTruth>,
    /// Trips; a trip's id is its index.
    pub trips: Vec<TripTruth>,
    /// (country, number) packed by [`doc_key`] → person.
    doc_index: DocIndex,
}

impl Truth {
    /// The person holding the document `number` issued by `country` (an
    /// ICAO code; `D` and `DEU` are the same, MRZ filler is ignored), from
    /// the shared elements alone.
    pub fn person_by_document(&self, country: &str, number: &str) -> Option<usize> {
        doc_key(country, number).and_then(|k| self.doc_index.get(&k).map(|p| *p as usize))
    }

    /// Whether person `person` holds Canadian or US citizenship (and so must
    /// never be shared). `false` for an unknown id.
    pub fn is_citizen(&self, person: usize) -> bool {
        self.persons.get(person).is_some_and(|p| p.citizen)
    }

    /// The truth about the record with this source id.
    pub fn record(&self, source_id: &str) -> Option<&RecordTruth> {
        self.records.get(source_id)
    }

    /// Counts over the whole dataset.
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            trips: self.trips.len(),
            persons: self.persons.len(),
            ..Summary::default()
        };
        for r in self.records.values() {
            match r.hub {
                Hub::Ca => s.ca_records += 1,
                Hub::Us => s.us_records += 1,
            }
            if r.citizen {
                s.citizen_records += 1;
            }
            if let Some(k) = r.malformed {
                s.malformed[k as usize] += 1;
            }
        }
        for t in &self.trips {
            if !t.noise.is_empty() {
                s.noisy_trips += 1;
            }
            for k in &t.noise {
                s.noise[*k as usize] += 1;
            }
            if t.entry.is_none() {
                s.missing_entries += 1;
            }
            s.overstays += usize::from(t.overstay);
            s.expect_shared += usize::from(t.expect_shared);
            s.expect_matched += usize::from(t.expect_matched);
        }
        s.citizen_persons = self.persons.iter().filter(|p| p.citizen).count();
        s
    }
}

/// Counts from [`Truth::summary`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub trips: usize,
    pub persons: usize,
    pub ca_records: usize,
    pub us_records: usize,
    pub citizen_persons: usize,
    pub citizen_records: usize,
    /// By [`MalformedKind`] in `ALL` order.
    pub malformed: [usize; 4],
    pub noisy_trips: usize,
    /// By [`NoiseKind`] in `ALL` order.
    pub noise: [usize; 6],
    pub missing_entries: usize,
    pub overstays: usize,
    pub expect_shared: usize,
    pub expect_matched: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |n: usize, d: usize| 100.0 * n as f64 / d.max(1) as f64;
        writeln!(
            f,
            "trips {}  records CA {} US {}  citizens {:.1}% of persons",
            self.trips,
            self.ca_records,
            self.us_records,
            pct(self.citizen_persons, self.persons)
        )?;
        write!(f, "malformed")?;
        for k in MalformedKind::ALL {
            write!(f, " {} {}", k.as_str(), self.malformed[k as usize])?;
        }
        writeln!(f)?;
        write!(f, "noisy trips {:.1}%:", pct(self.noisy_trips, self.trips))?;
        for k in NoiseKind::ALL {
            write!(f, " {} {}", k.as_str(), self.noise[k as usize])?;
        }
        writeln!(f)?;
        write!(
            f,
            "missing entries {:.1}%  overstays {}  expected shared {} matched {}",
            pct(self.missing_entries, self.trips),
            self.overstays,
            self.expect_shared,
            self.expect_matched
        )
    }
}

/// Source documents for the two hubs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubBatches {
    /// CBSA-style CSV documents, each with the header line and at most
    /// `batch_records` rows, in time order.
    pub ca: Vec<Vec<u8>>,
    /// CBP-style JSON feed documents (`{"feed":"cbp-entry/1","records":[…]}`),
    /// at most `batch_records` records each, in time order.
    pub us: Vec<Vec<u8>>,
}

/// Everything [`generate`] makes.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// The entries A of the 30 days before `day_start`.
    pub history: HubBatches,
    /// The entries B of the day (exits from the other country).
    pub day: HubBatches,
    pub truth: Truth,
}

/// A crossing of the border the generator uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossingInfo {
    /// The Canadian port's code (CBSA-style, illustrative).
    pub ca_port: &'static str,
    /// The US port's CBP code.
    pub us_port: &'static str,
    pub name: &'static str,
    pub modes: Vec<Mode>,
}

/// The crossings (and so the port codes) records may carry.
pub fn crossings() -> Vec<CrossingInfo> {
    CROSSINGS
        .iter()
        .map(|c| CrossingInfo {
            ca_port: c.ca_port,
            us_port: c.us_port,
            name: c.name,
            modes: MODE_WEIGHTS
                .iter()
                .map(|(m, _)| *m)
                .filter(|m| c.modes & m.bit() != 0)
                .collect(),
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------

/// Generates the dataset for `cfg`.
pub fn generate(cfg: &Config) -> Dataset {
    let mut g = Gen::new(cfg);
    while g.trips.len() < cfg.trips {
        let size = g.group_size().min(cfg.trips - g.trips.len());
        g.group(size);
    }
    g.malform();
    g.finish()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Category {
    CitizenCan,
    CitizenUsa,
    /// Foreign passport, also CAN or USA citizen.
    Dual,
    CaPr,
    UsLpr,
    ThirdCountry,
}

const CATEGORY_WEIGHTS: [(Category, u32); 6] = [
    (Category::CitizenCan, 330),
    (Category::CitizenUsa, 320),
    (Category::Dual, 40),
    (Category::CaPr, 55),
    (Category::UsLpr, 45),
    (Category::ThirdCountry, 210),
];

/// How the CA CSV writes names of a record without name noise.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NameForm {
    /// Upper case with diacritics, as typed from the data page.
    Visual,
    /// As on the data page (`García López`): the normaliser upper-cases.
    Title,
    /// As read from the MRZ by a document reader (`MUELLER`).
    Mrz,
}

// Per-record rendering flags.
const F_QUOTE_NAMES: u8 = 1;
const F_LOCAL_TIME: u8 = 2;
const F_LOWER_MODE: u8 = 4;
const F_SPACES: u8 = 8;
const F_NAT_SHORT: u8 = 16;
const F_CIT_WITH_NAT: u8 = 32;
const F_NULL_ADMIT: u8 = 64;
const F_ALT: u8 = 128;

const NO_OVERRIDE: u32 = u32::MAX;

/// One record to write.
struct Rec {
    person: u32,
    trip: u32,
    at: i64,
    /// Last day of authorised stay, days since epoch.
    auth: Option<i64>,
    ov: u32,
    crossing: u16,
    doc: u8,
    flags: u8,
    hub: Hub,
    part: Part,
    mode: Mode,
    form: NameForm,
    malformed: Option<MalformedKind>,
}

/// Names and date of birth of a record that differ from the person's.
struct Override {
    family: String,
    given: String,
    middle: String,
    dob: PartialDate,
}

struct TripInt {
    person: u32,
    entered: Hub,
    a: Option<u32>,
    b: u32,
    noise: Vec<NoiseKind>,
    group: u32,
}

/// Per-person generation facts not in [`Person`].
#[derive(Clone, Copy)]
struct PersonExtra {
    nation: u16,
    /// Document index used at the CA / US hub.
    ca_doc: u8,
    us_doc: u8,
}

/// What relatives travelling together share.
struct Family {
    category: Category,
    nation: usize,
    culture: &'static Culture,
    family_name: String,
    citizenships: Vec<&'static str>,
    residency: Vec<Residency>,
}

struct Gen<'c> {
    cfg: &'c Config,
    rng: ChaCha8Rng,
    persons: Vec<Person>,
    extra: Vec<PersonExtra>,
    recs: Vec<Rec>,
    trips: Vec<TripInt>,
    overrides: Vec<Override>,
    doc_index: DocIndex,
    groups: u32,
    day_number: i64,
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen_range(0..total);
    for (item, w) in items {
        if x < *w {
            return *item;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

fn pick_str(rng: &mut ChaCha8Rng, items: &'static [&'static str]) -> &'static str {
    items[rng.gen_range(0..items.len())]
}

/// The document index: an exact packed key, hashed cheaply.
type DocIndex = HashMap<u128, u32, std::hash::BuildHasherDefault<KeyHasher>>;

/// A multiply-xorshift hasher for the index's integer keys (no allocation,
/// no SipHash): the keys are not attacker-controlled.
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 =
            ((v as u64) ^ ((v >> 64) as u64).rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The exact key of a document in the index: the issuing country (MRZ
/// filler and surrounding space removed, `D` read as `DEU`) in 15 bits and
/// the number (up to 20 of `A-Z0-9`) in base 37 above it. `None` for what
/// no generated document can be.
fn doc_key(country: &str, number: &str) -> Option<u128> {
    let c = country.trim().trim_end_matches('<');
    let c = if c == "D" { "DEU" } else { c };
    let number = number.trim();
    if c.len() != 3 || number.is_empty() || number.len() > 20 {
        return None;
    }
    let mut key: u128 = 0;
    for b in number.bytes() {
        let v = match b {
            b'0'..=b'9' => b - b'0' + 1,
            b'A'..=b'Z' => b - b'A' + 11,
            b'a'..=b'z' => b - b'a' + 11,
            _ => return None,
        };
        key = key * 37 + u128::from(v);
    }
    let mut country_bits: u128 = 0;
    for b in c.bytes() {
        if !b.is_ascii_alphabetic() {
            return None;
        }
        country_bits = country_bits << 5 | u128::from(b.to_ascii_uppercase() - b'A' + 1);
    }
    Some(key << 15 | country_bits)
}

/// The ISO code of an MRZ country code (`D` → `DEU`).
fn iso_of(code: &str) -> &str {
    if code == "D" { "DEU" } else { code }
}

fn civil(day: i64) -> (i32, u32, u32) {
    let (y, m, d) = dates::civil_from_days(day);
    (y as i32, m, d)
}

impl<'c> Gen<'c> {
    fn new(cfg: &'c Config) -> Self {
        let n = cfg.trips;
        Gen {
            cfg,
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            persons: Vec::with_capacity(n),
            extra: Vec::with_capacity(n),
            recs: Vec::with_capacity(2 * n),
            trips: Vec::with_capacity(n),
            overrides: Vec::new(),
            doc_index: DocIndex::with_capacity_and_hasher(n + n / 4, Default::default()),
            groups: 0,
            day_number: cfg.day_start.div_euclid(DAY),
        }
    }

    fn group_size(&mut self) -> usize {
        pick(
            &mut self.rng,
            &[(1usize, 750), (2, 130), (3, 75), (4, 38), (5, 7)],
        )
    }

    fn pick_crossing(&mut self, mode: Mode) -> usize {
        let bit = mode.bit();
        let total: u32 = CROSSINGS
            .iter()
            .filter(|c| c.modes & bit != 0)
            .map(|c| c.weight)
            .sum();
        let mut x = self.rng.gen_range(0..total);
        for (i, c) in CROSSINGS.iter().enumerate() {
            if c.modes & bit == 0 {
                continue;
            }
            if x < c.weight {
                return i;
            }
            x -= c.weight;
        }
        unreachable!("crossing weights")
    }

    /// UTC seconds into the day of a crossing at a local time drawn from the
    /// ports' hourly profile.
    fn utc_second_of_day(&mut self, c: &Crossing) -> i64 {
        let total: u32 = data::HOUR_WEIGHTS.iter().sum();
        let mut x = self.rng.gen_range(0..total);
        let mut hour = 0i64;
        for (h, w) in data::HOUR_WEIGHTS.iter().enumerate() {
            if x < *w {
                hour = h as i64;
                break;
            }
            x -= w;
        }
        let local = hour * 3600 + self.rng.gen_range(0..3600);
        (local - i64::from(c.utc_offset_min) * 60).rem_euclid(DAY)
    }

    /// One group of `size` travellers crossing together.
    fn group(&mut self, size: usize) {
        let group = self.groups;
        self.groups += 1;
        let x = if self.rng.gen_bool(0.5) {
            Hub::Ca
        } else {
            Hub::Us
        };
        let b_mode = if size > 1 {
            if self.rng.gen_bool(0.95) {
                Mode::Vehicle
            } else {
                Mode::Ferry
            }
        } else {
            pick(&mut self.rng, &MODE_WEIGHTS)
        };
        let b_cross = self.pick_crossing(b_mode);
        let (a_mode, a_cross) = if self.rng.gen_bool(0.7) {
            (b_mode, b_cross)
        } else {
            let m = if size > 1 {
                Mode::Vehicle
            } else {
                pick(&mut self.rng, &MODE_WEIGHTS)
            };
            (m, self.pick_crossing(m))
        };
        let a_present = !self.rng.gen_bool(MISSING_ENTRY_RATE);
        // Stays skew short: days back 1..=30.
        let u: f64 = self.rng.gen_range(0.0..1.0);
        let days_back = 1 + ((u * u) * HISTORY_DAYS as f64) as i64;
        let days_back = days_back.min(HISTORY_DAYS);
        let t0 = self.cfg.day_start - days_back * DAY + self.utc_second_of_day(&CROSSINGS[a_cross]);
        let t1 = self.cfg.day_start + self.utc_second_of_day(&CROSSINGS[b_cross]);

        let category = pick(&mut self.rng, &CATEGORY_WEIGHTS);
        let mut family: Option<Family> = None;
        for member in 0..size {
            let person = self.new_person(category, &mut family, member);
            let ta = (t0 + self.rng.gen_range(0..20) * member as i64).min(self.cfg.day_start - 1);
            let tb =
                (t1 + self.rng.gen_range(0..20) * member as i64).min(self.cfg.day_start + DAY - 1);
            self.trip(
                person,
                group,
                x,
                a_present.then_some((ta, a_mode, a_cross)),
                (tb, b_mode, b_cross),
            );
        }
    }

    fn new_person(
        &mut self,
        category: Category,
        family: &mut Option<Family>,
        member: usize,
    ) -> usize {
        let fam = match family {
            Some(f) => f,
            None => {
                let (nation, citizenships, residency) = self.status(category);
                let culture = pick(&mut self.rng, NATIONS[nation].cultures);
                let family_name = self.family_name(culture);
                family.insert(Family {
                    category,
                    nation,
                    culture,
                    family_name,
                    citizenships,
                    residency,
                })
            }
        };
        let nation = &NATIONS[fam.nation];
        let culture = fam.culture;
        // Spouses keep their own name now and then.
        let family_name = if member == 0 || self.rng.gen_bool(0.8) {
            fam.family_name.clone()
        } else {
            self.family_name(culture)
        };
        let sex = if nation.x_sex && self.rng.gen_bool(0.002) {
            Sex::Unspecified
        } else if member == 1 {
            // The spouse of the head, usually of the other sex.
            let head = self.persons.last().map(|p| p.sex);
            match (head, self.rng.gen_bool(0.9)) {
                (Some(Sex::Male), true) => Sex::Female,
                (Some(Sex::Female), true) => Sex::Male,
                _ => self.coin_sex(),
            }
        } else {
            self.coin_sex()
        };
        let (given, middle) = self.given_names(culture, sex, &family_name);
        let (family_name, given, middle) = if nation.iso == "IND" && self.rng.gen_bool(0.01) {
            // A single name: the MRZ puts it in the primary identifier.
            (given, String::new(), String::new())
        } else {
            (family_name, given, middle)
        };
        let child = member >= 2;
        let dob = self.dob(nation, child);
        let born =
            dates::days_from_civil(i32::from(dob.year), u32::from(dob.month.unwrap_or(1)), 1);
        let age_years = (self.day_number - born) / 365;

        // Documents.
        let validity = if age_years < 16 { 5 } else { 10 };
        let passport = self.new_document("P", nation.mrz, nation.passport, validity);
        let mut documents = Vec::with_capacity(match fam.category {
            Category::CaPr | Category::UsLpr => 2,
            _ => 1,
        });
        documents.push(passport);
        let (mut ca_doc, mut us_doc) = (0u8, 0u8);
        match fam.category {
            Category::CitizenUsa if self.rng.gen_bool(0.12) => {
                documents.push(self.new_document("I", "USA", "Cdddddddd", 10));
                ca_doc = 1;
                us_doc = 1;
            }
            Category::CaPr => {
                documents.push(self.new_document("C", "CAN", "PAddddddd", 5));
                if self.rng.gen_bool(0.5) {
                    ca_doc = 1;
                }
            }
            Category::UsLpr => {
                let prefix = pick_str(&mut self.rng, data::GREEN_CARD_PREFIXES);
                let mut pattern = String::from(prefix);
                pattern.push_str("dddddddddd");
                documents.push(self.new_document("C", "USA", &pattern, 10));
                if self.rng.gen_bool(0.6) {
                    us_doc = 1;
                }
            }
            _ => {}
        }
        let citizen = fam.citizenships.iter().any(|c| *c == "CAN" || *c == "USA");
        let id = self.persons.len();
        for d in &documents {
            self.doc_index.insert(
                doc_key(d.issuer, &d.number).expect("generated numbers pack"),
                id as u32,
            );
        }
        self.persons.push(Person {
            family_name,
            given_name: given,
            middle_names: middle,
            dob,
            sex,
            nationality: nation.iso,
            citizenships: fam.citizenships.clone(),
            residency: fam.residency.clone(),
            documents,
            citizen,
        });
        self.extra.push(PersonExtra {
            nation: fam.nation as u16,
            ca_doc,
            us_doc,
        });
        id
    }

    fn coin_sex(&mut self) -> Sex {
        if self.rng.gen_bool(0.5) {
            Sex::Female
        } else {
            Sex::Male
        }
    }

    /// Nationality, citizenships and residency of a category.
    fn status(&mut self, category: Category) -> (usize, Vec<&'static str>, Vec<Residency>) {
        let rng = &mut self.rng;
        match category {
            Category::CitizenCan => {
                let mut c = vec!["CAN"];
                if rng.gen_bool(0.03) {
                    c.push("USA");
                } else if rng.gen_bool(0.02) {
                    c.push(pick(rng, data::DUAL_WEIGHTS));
                }
                (data::nation_index("CAN"), c, Vec::new())
            }
            Category::CitizenUsa => {
                let mut c = vec!["USA"];
                if rng.gen_bool(0.03) {
                    c.push("CAN");
                } else if rng.gen_bool(0.02) {
                    c.push(pick(rng, data::DUAL_WEIGHTS));
                }
                (data::nation_index("USA"), c, Vec::new())
            }
            Category::Dual => {
                let nat = pick(rng, data::DUAL_WEIGHTS);
                let other = if rng.gen_bool(0.5) { "CAN" } else { "USA" };
                (data::nation_index(nat), vec![nat, other], Vec::new())
            }
            Category::CaPr => {
                let nat = pick(rng, data::PR_WEIGHTS);
                (data::nation_index(nat), vec![nat], vec![Residency::CaPr])
            }
            Category::UsLpr => {
                let nat = pick(rng, data::PR_WEIGHTS);
                (data::nation_index(nat), vec![nat], vec![Residency::UsLpr])
            }
            Category::ThirdCountry => {
                let nat = pick(rng, data::TCN_WEIGHTS);
                let mut c = vec![nat];
                if nat == "GBR" && rng.gen_bool(0.05) {
                    c.push("IRL");
                }
                (data::nation_index(nat), c, Vec::new())
            }
        }
    }

    fn family_name(&mut self, culture: &'static Culture) -> String {
        let first = pick_str(&mut self.rng, culture.family);
        if culture.compound_p > 0.0 && self.rng.gen_bool(culture.compound_p) {
            let mut second = pick_str(&mut self.rng, culture.family);
            if second == first {
                second =
                    culture.family[(culture.family.iter().position(|f| *f == first).unwrap_or(0)
                        + 1)
                        % culture.family.len()];
            }
            let mut s = String::with_capacity(first.len() + second.len() + 1);
            s.push_str(first);
            s.push(' ');
            s.push_str(second);
            s
        } else {
            first.to_string()
        }
    }

    fn given_names(
        &mut self,
        culture: &'static Culture,
        sex: Sex,
        family: &str,
    ) -> (String, String) {
        let list = match sex {
            Sex::Female => culture.female,
            Sex::Male => culture.male,
            Sex::Unspecified => {
                if self.rng.gen_bool(0.5) {
                    culture.female
                } else {
                    culture.male
                }
            }
        };
        let given = pick_str(&mut self.rng, list);
        if culture.middle_p <= 0.0 || !self.rng.gen_bool(culture.middle_p) {
            return (given.to_string(), String::new());
        }
        let female = list.as_ptr() == culture.female.as_ptr();
        match culture.middle {
            MiddleStyle::Given => {
                let mut m = pick_str(&mut self.rng, list);
                if m == given {
                    m = pick_str(&mut self.rng, list);
                }
                if m == given {
                    return (given.to_string(), String::new());
                }
                let mut middle = m.to_string();
                if self.rng.gen_bool(0.12) {
                    let m2 = pick_str(&mut self.rng, list);
                    if m2 != given && m2 != m {
                        middle.push(' ');
                        middle.push_str(m2);
                    }
                }
                (given.to_string(), middle)
            }
            MiddleStyle::Lists(male, fem) => {
                let m = pick_str(&mut self.rng, if female { fem } else { male });
                if m == given {
                    (given.to_string(), String::new())
                } else {
                    (given.to_string(), m.to_string())
                }
            }
            MiddleStyle::Surname => {
                let mut m = pick_str(&mut self.rng, culture.family);
                if m == family {
                    m = pick_str(&mut self.rng, culture.family);
                }
                (given.to_string(), m.to_string())
            }
            MiddleStyle::Vietnamese(male, fem) => {
                let prefix = pick_str(&mut self.rng, if female { fem } else { male });
                (prefix.to_string(), given.to_string())
            }
        }
    }

    fn dob(&mut self, nation: &Nation, child: bool) -> PartialDate {
        let age_days: i64 = if child {
            self.rng.gen_range(365..18 * 365)
        } else {
            let a: f64 = self.rng.gen_range(0.0..1.0);
            let b: f64 = self.rng.gen_range(0.0..1.0);
            18 * 365 + ((a + b) / 2.0 * 68.0 * 365.0) as i64
        };
        let (y, m, d) = civil(self.day_number - age_days);
        if nation.unknown_dob > 0.0 && self.rng.gen_bool(nation.unknown_dob) {
            if self.rng.gen_bool(0.7) {
                return PartialDate {
                    year: y as u16,
                    month: None,
                    day: None,
                };
            }
            return PartialDate {
                year: y as u16,
                month: Some(m as u8),
                day: None,
            };
        }
        PartialDate {
            year: y as u16,
            month: Some(m as u8),
            day: Some(d as u8),
        }
    }

    /// A document with a number unique for its issuer, expiring between two
    /// months and `years` after the day.
    fn new_document(
        &mut self,
        doc_type: &'static str,
        issuer: &'static str,
        pattern: &str,
        years: i64,
    ) -> Document {
        let number = loop {
            let n = self.document_number(pattern);
            if !self
                .doc_index
                .contains_key(&doc_key(issuer, &n).expect("generated numbers pack"))
            {
                break n;
            }
        };
        let expiry = civil(self.day_number + self.rng.gen_range(60..years * 365));
        Document {
            doc_type,
            number,
            issuer,
            expiry,
        }
    }

    fn document_number(&mut self, pattern: &str) -> String {
        const LETTERS: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ";
        const ALNUM: &[u8] = b"CFGHJKLMNPRTVWXYZ0123456789";
        let mut s = String::with_capacity(pattern.len());
        for c in pattern.bytes() {
            let ch = match c {
                b'l' => LETTERS[self.rng.gen_range(0..LETTERS.len())],
                b'd' => b'0' + self.rng.gen_range(0..10u8),
                b'a' => ALNUM[self.rng.gen_range(0..ALNUM.len())],
                other => other,
            };
            s.push(ch as char);
        }
        s
    }

    /// Last day of authorised stay for an entry into `hub`'s country.
    fn authorised_until(&mut self, person: usize, hub: Hub, at: i64) -> Option<i64> {
        let p = &self.persons[person];
        let nation = &NATIONS[usize::from(self.extra[person].nation)];
        let has = |c: &str| p.citizenships.contains(&c);
        let days = match hub {
            Hub::Ca => {
                if has("CAN") || p.residency.contains(&Residency::CaPr) {
                    return None;
                }
                182
            }
            Hub::Us => {
                if has("USA") || p.residency.contains(&Residency::UsLpr) {
                    return None;
                }
                if has("CAN") {
                    182
                } else if nation.vwp {
                    90
                } else {
                    182
                }
            }
        };
        let days = if self.rng.gen_bool(0.03) {
            self.rng.gen_range(7..=28)
        } else {
            days
        };
        Some(at.div_euclid(DAY) + days)
    }

    fn trip(
        &mut self,
        person: usize,
        group: u32,
        x: Hub,
        a: Option<(i64, Mode, usize)>,
        b: (i64, Mode, usize),
    ) {
        let trip = self.trips.len() as u32;
        let y = x.other();
        let kinds = self.noise_kinds(person, a.is_some() || y == Hub::Ca);
        let ex = self.extra[person];
        let doc_at = |hub: Hub| match hub {
            Hub::Ca => ex.ca_doc,
            Hub::Us => ex.us_doc,
        };
        let mut b_doc = doc_at(y);
        if kinds.contains(&NoiseKind::RenewedDocument) {
            b_doc = self.renew(person, usize::from(b_doc));
        }

        // Name and date-of-birth overrides.
        let translit = kinds.contains(&NoiseKind::Transliteration);
        let edits = kinds.iter().any(|k| {
            matches!(
                k,
                NoiseKind::Typo
                    | NoiseKind::NameSwap
                    | NoiseKind::MissingMiddle
                    | NoiseKind::DobSwap
            )
        });
        let mut a_ov = NO_OVERRIDE;
        let mut b_ov = NO_OVERRIDE;
        if edits || (translit && y == Hub::Ca) {
            let mut o = self.base_override(person);
            if translit && y == Hub::Ca {
                transliteration_variant(&mut o);
            }
            for k in &kinds {
                self.apply(&mut o, *k);
            }
            b_ov = self.overrides.len() as u32;
            self.overrides.push(o);
        }
        if translit && y == Hub::Us && a.is_some() {
            let mut o = self.base_override(person);
            transliteration_variant(&mut o);
            a_ov = self.overrides.len() as u32;
            self.overrides.push(o);
        }

        let a_idx = a.map(|(t, mode, crossing)| {
            let auth = self.authorised_until(person, x, t);
            self.push_rec(
                person,
                trip,
                x,
                Part::Entry,
                t,
                mode,
                crossing,
                doc_at(x),
                a_ov,
                auth,
            )
        });
        let (t, mode, crossing) = b;
        let auth = self.authorised_until(person, y, t);
        let b_idx = self.push_rec(
            person,
            trip,
            y,
            Part::Exit,
            t,
            mode,
            crossing,
            b_doc,
            b_ov,
            auth,
        );
        self.trips.push(TripInt {
            person: person as u32,
            entered: x,
            a: a_idx,
            b: b_idx,
            noise: kinds,
            group,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn push_rec(
        &mut self,
        person: usize,
        trip: u32,
        hub: Hub,
        part: Part,
        at: i64,
        mode: Mode,
        crossing: usize,
        doc: u8,
        ov: u32,
        auth: Option<i64>,
    ) -> u32 {
        let r = &mut self.rng;
        let form = match r.gen_range(0..10) {
            0..=5 => NameForm::Visual,
            6 => NameForm::Title,
            _ => NameForm::Mrz,
        };
        let mut flags = 0u8;
        let mut set = |flag: u8, p: f64, r: &mut ChaCha8Rng| {
            if r.gen_bool(p) {
                flags |= flag;
            }
        };
        set(F_QUOTE_NAMES, 0.5, r);
        set(F_LOCAL_TIME, if hub == Hub::Ca { 0.3 } else { 0.15 }, r);
        set(F_LOWER_MODE, 0.1, r);
        set(F_SPACES, 0.01, r);
        set(F_NAT_SHORT, 0.2, r);
        set(F_CIT_WITH_NAT, 0.2, r);
        set(F_NULL_ADMIT, 0.5, r);
        set(F_ALT, 0.5, r);
        let idx = self.recs.len() as u32;
        self.recs.push(Rec {
            person: person as u32,
            trip,
            at,
            auth,
            ov,
            crossing: crossing as u16,
            doc,
            flags,
            hub,
            part,
            mode,
            form,
            malformed: None,
        });
        idx
    }

    /// Adds a renewed copy of document `doc` to the person; its index.
    fn renew(&mut self, person: usize, doc: usize) -> u8 {
        let old = &self.persons[person].documents[doc];
        let (doc_type, issuer) = (old.doc_type, old.issuer);
        let pattern: String = match NATIONS.iter().find(|n| n.mrz == issuer) {
            Some(n) if doc_type == "P" => n.passport.to_string(),
            // Cards keep their letter prefix (`PA`, `C`, `SRC`…).
            _ => {
                let prefix = old
                    .number
                    .bytes()
                    .take_while(u8::is_ascii_alphabetic)
                    .count();
                old.number[..prefix].to_string() + &"d".repeat(old.number.len() - prefix)
            }
        };
        let years = if doc_type == "P" { 10 } else { 5 };
        let renewed = self.new_document(doc_type, issuer, &pattern, years);
        self.doc_index.insert(
            doc_key(renewed.issuer, &renewed.number).expect("generated numbers pack"),
            person as u32,
        );
        let docs = &mut self.persons[person].documents;
        docs.push(renewed);
        (docs.len() - 1) as u8
    }

    fn noise_kinds(&mut self, person: usize, ca_record_exists: bool) -> Vec<NoiseKind> {
        let mut kinds = Vec::new();
        if !self.rng.gen_bool(self.cfg.noise.trip_rate()) {
            return kinds;
        }
        let p = &self.persons[person];
        let applicable = |k: NoiseKind| match k {
            NoiseKind::Typo => letters(&p.family_name) >= 3 || letters(&p.given_name) >= 3,
            NoiseKind::Transliteration => {
                ca_record_exists
                    && [&p.family_name, &p.given_name, &p.middle_names]
                        .iter()
                        .any(|s| !s.is_ascii() || alternate_spelling(s).is_some())
            }
            NoiseKind::NameSwap => !p.given_name.is_empty(),
            NoiseKind::MissingMiddle => !p.middle_names.is_empty(),
            NoiseKind::DobSwap => match (p.dob.month, p.dob.day) {
                (Some(m), Some(d)) => d <= 12 && d != m,
                _ => false,
            },
            NoiseKind::RenewedDocument => true,
        };
        let mut candidates =
            NoiseKind::ALL.map(|k| (k, if applicable(k) { k.weight() } else { 0 }));
        let first = pick(&mut self.rng, &candidates);
        kinds.push(first);
        let second_rate = self.cfg.noise.second_kind_rate();
        if second_rate > 0.0 && self.rng.gen_bool(second_rate) {
            candidates[first as usize].1 = 0;
            if candidates.iter().any(|(_, w)| *w > 0) {
                kinds.push(pick(&mut self.rng, &candidates));
            }
        }
        kinds.sort();
        kinds
    }

    fn base_override(&self, person: usize) -> Override {
        let p = &self.persons[person];
        Override {
            family: p.family_name.clone(),
            given: p.given_name.clone(),
            middle: p.middle_names.clone(),
            dob: p.dob,
        }
    }

    fn apply(&mut self, o: &mut Override, kind: NoiseKind) {
        match kind {
            NoiseKind::Typo => {
                let family =
                    letters(&o.given) < 3 || (letters(&o.family) >= 3 && self.rng.gen_bool(0.6));
                let target = if family { &mut o.family } else { &mut o.given };
                *target = typo(&mut self.rng, target);
            }
            NoiseKind::NameSwap => std::mem::swap(&mut o.family, &mut o.given),
            NoiseKind::MissingMiddle => o.middle.clear(),
            NoiseKind::DobSwap => {
                if let (Some(m), Some(d)) = (o.dob.month, o.dob.day) {
                    o.dob.month = Some(d);
                    o.dob.day = Some(m);
                }
            }
            NoiseKind::Transliteration | NoiseKind::RenewedDocument => {}
        }
    }

    /// Marks `malformed_per_mille` of each hub's records as malformed, the
    /// kinds in turn so that each appears.
    fn malform(&mut self) {
        let pm = self.cfg.malformed_per_mille.min(1000) as usize;
        if pm == 0 {
            return;
        }
        for hub in [Hub::Ca, Hub::Us] {
            let idx: Vec<usize> = (0..self.recs.len())
                .filter(|i| self.recs[*i].hub == hub)
                .collect();
            let kinds = MalformedKind::for_hub(hub);
            let mut k = (idx.len() * pm + 500) / 1000;
            if idx.len() >= 100 {
                k = k.max(kinds.len());
            }
            let k = k.min(idx.len());
            let chosen = rand::seq::index::sample(&mut self.rng, idx.len(), k);
            let mut chosen: Vec<usize> = chosen.into_iter().collect();
            chosen.sort_unstable();
            for (n, i) in chosen.into_iter().enumerate() {
                self.recs[idx[i]].malformed = Some(kinds[n % kinds.len()]);
            }
        }
    }

    fn finish(self) -> Dataset {
        let Gen {
            cfg,
            persons,
            extra,
            recs,
            trips,
            overrides,
            doc_index,
            ..
        } = self;
        let batch = cfg.batch_records.max(1);
        let n = recs.len();

        // 1. Time order within each hub and part; sequence numbers (ids
        //    grow with time, history before day) and batch numbers.
        let mut orders: Vec<(Hub, Part, Vec<u32>)> = Vec::with_capacity(4);
        let mut seq_of = vec![0u32; n];
        let mut batch_of = vec![0u32; n];
        for hub in [Hub::Ca, Hub::Us] {
            let mut seq = 0u32;
            for part in [Part::Entry, Part::Exit] {
                let mut keyed: Vec<(i64, u32)> = recs
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.hub == hub && r.part == part)
                    .map(|(i, r)| (r.at, i as u32))
                    .collect();
                keyed.sort_unstable();
                let order: Vec<u32> = keyed.into_iter().map(|(_, i)| i).collect();
                for (pos, i) in order.iter().enumerate() {
                    seq += 1;
                    seq_of[*i as usize] = seq;
                    batch_of[*i as usize] = (pos / batch) as u32;
                }
                orders.push((hub, part, order));
            }
        }

        // 2. Per hub and part: render the records in generation order, where
        //    consecutive records belong to consecutive persons (cache
        //    friendly), into an arena; then assemble the documents in time
        //    order from it.
        let ctx = Render {
            persons: &persons,
            extra: &extra,
            overrides: &overrides,
        };
        let mut ids: Vec<String> = vec![String::new(); n];
        let mut spans: Vec<(usize, usize)> = vec![(0, 0); n];
        let mut history = HubBatches::default();
        let mut day = HubBatches::default();
        let mut arena: Vec<u8> = Vec::new();
        for (hub, part, order) in &orders {
            let (hub, part) = (*hub, *part);
            arena.clear();
            arena.reserve(order.len() * if hub == Hub::Ca { 200 } else { 320 });
            for (i, r) in recs.iter().enumerate() {
                if r.hub != hub || r.part != part {
                    continue;
                }
                let crossing = &CROSSINGS[usize::from(r.crossing)];
                let id = source_id(hub, crossing, seq_of[i]);
                let start = arena.len();
                match hub {
                    Hub::Ca => ctx.csv_row(&mut arena, &id, r, batch_of[i] % 5 == 4),
                    Hub::Us => ctx.json_record(&mut arena, &id, r),
                }
                spans[i] = (start, arena.len());
                ids[i] = id;
            }
            let out = match part {
                Part::Entry => &mut history,
                Part::Exit => &mut day,
            };
            for (b, chunk) in order.chunks(batch).enumerate() {
                let bytes: usize = chunk
                    .iter()
                    .map(|i| spans[*i as usize].1 - spans[*i as usize].0 + 2)
                    .sum();
                let mut doc = Vec::with_capacity(bytes + CA_CSV_HEADER.len() + 32);
                match hub {
                    Hub::Ca => {
                        let eol: &[u8] = if b % 4 == 3 { b"\r\n" } else { b"\n" };
                        doc.extend_from_slice(CA_CSV_HEADER.as_bytes());
                        doc.extend_from_slice(eol);
                        for i in chunk {
                            let (s, e) = spans[*i as usize];
                            doc.extend_from_slice(&arena[s..e]);
                            doc.extend_from_slice(eol);
                        }
                        out.ca.push(doc);
                    }
                    Hub::Us => {
                        doc.extend_from_slice(b"{\"feed\":\"");
                        doc.extend_from_slice(US_FEED.as_bytes());
                        doc.extend_from_slice(b"\",\"records\":[");
                        for (k, i) in chunk.iter().enumerate() {
                            let (s, e) = spans[*i as usize];
                            doc.extend_from_slice(if k == 0 { b"\n" } else { b",\n" });
                            doc.extend_from_slice(&arena[s..e]);
                        }
                        doc.extend_from_slice(b"\n]}\n");
                        out.us.push(doc);
                    }
                }
            }
        }
        drop(arena);
        drop(spans);
        drop(seq_of);
        drop(batch_of);
        let mut records = HashMap::with_capacity(n);
        for (i, r) in recs.iter().enumerate() {
            let p = &persons[r.person as usize];
            records.insert(
                ids[i].clone(),
                RecordTruth {
                    person: r.person as usize,
                    hub: r.hub,
                    trip: r.trip as usize,
                    part: r.part,
                    malformed: r.malformed,
                    citizen: p.citizen,
                    at: r.at,
                    mode: r.mode,
                    document: usize::from(r.doc),
                },
            );
        }
        let trips = trips
            .into_iter()
            .map(|t| {
                let b = &recs[t.b as usize];
                let a = t.a.map(|a| &recs[a as usize]);
                let citizen = persons[t.person as usize].citizen;
                let auth = a.and_then(|a| a.auth);
                let expect_shared = !citizen && b.mode.in_phase2_scope() && b.malformed.is_none();
                TripTruth {
                    person: t.person as usize,
                    entered: t.entered,
                    entry: t.a.map(|a| std::mem::take(&mut ids[a as usize])),
                    exit: std::mem::take(&mut ids[t.b as usize]),
                    entry_at: a.map(|a| a.at),
                    exit_at: b.at,
                    mode: b.mode,
                    noise: t.noise,
                    authorised_until_day: auth,
                    overstay: auth.is_some_and(|d| d < b.at.div_euclid(DAY)),
                    group: t.group as usize,
                    expect_shared,
                    expect_matched: expect_shared && a.is_some_and(|a| a.malformed.is_none()),
                }
            })
            .collect();
        Dataset {
            history,
            day,
            truth: Truth {
                persons,
                records,
                trips,
                doc_index,
            },
        }
    }
}

fn letters(s: &str) -> usize {
    s.chars().filter(|c| c.is_alphabetic()).count()
}

/// The alternative romanisation of a whole ASCII name, if known.
fn alternate_spelling(name: &str) -> Option<&'static str> {
    if !name.is_ascii() || name.is_empty() {
        return None;
    }
    data::ALTERNATE_SPELLINGS.iter().find_map(|(a, b)| {
        if name.eq_ignore_ascii_case(a) {
            Some(*b)
        } else if name.eq_ignore_ascii_case(b) {
            Some(*a)
        } else {
            None
        }
    })
}

/// Rewrites the names the way another clerk's system would: accents folded
/// (`MULLER`), or a known alternative romanisation.
fn transliteration_variant(o: &mut Override) {
    for s in [&mut o.family, &mut o.given, &mut o.middle] {
        if !s.is_ascii() {
            *s = names::fold_generic(s);
        } else if let Some(alt) = alternate_spelling(s) {
            *s = alt.to_string();
        }
    }
}

/// One keyboard-plausible edit of `name`.
fn typo(rng: &mut ChaCha8Rng, name: &str) -> String {
    let mut chars: Vec<char> = name.chars().collect();
    let positions: Vec<usize> = (0..chars.len())
        .filter(|i| chars[*i].is_alphabetic())
        .collect();
    if positions.len() < 2 {
        return name.to_string();
    }
    let neighbour = |rng: &mut ChaCha8Rng, c: char| -> char {
        let upper = c.to_ascii_uppercase();
        let set = if upper.is_ascii_uppercase() {
            data::KEY_NEIGHBOURS[(upper as u8 - b'A') as usize].as_bytes()
        } else {
            b"AEIOU".as_slice()
        };
        let n = set[rng.gen_range(0..set.len())] as char;
        if c.is_lowercase() {
            n.to_ascii_lowercase()
        } else {
            n
        }
    };
    let i = positions[rng.gen_range(0..positions.len())];
    match rng.gen_range(0..10) {
        0..=3 => chars[i] = neighbour(rng, chars[i]),
        4..=5 if positions.len() > 3 => {
            chars.remove(i);
        }
        6..=7 => {
            let c = neighbour(rng, chars[i]);
            chars.insert(i + 1, c);
        }
        _ => {
            // Transpose with the next letter; if equal or none, double it.
            if i + 1 < chars.len() && chars[i + 1].is_alphabetic() && chars[i + 1] != chars[i] {
                chars.swap(i, i + 1);
            } else {
                let c = chars[i];
                chars.insert(i, c);
            }
        }
    }
    chars.into_iter().collect()
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

struct Render<'a> {
    persons: &'a [Person],
    extra: &'a [PersonExtra],
    overrides: &'a [Override],
}

fn push_upper(out: &mut Vec<u8>, s: &str) {
    if s.is_ascii() {
        out.extend(s.bytes().map(|b| b.to_ascii_uppercase()));
    } else {
        let mut buf = [0u8; 4];
        for c in s.chars().flat_map(char::to_uppercase) {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
}

/// `CA-<port>-<n>` or `CBP-<port>-<n>`, `n` at least 7 digits.
fn source_id(hub: Hub, crossing: &Crossing, seq: u32) -> String {
    let (prefix, port) = match hub {
        Hub::Ca => ("CA-", crossing.ca_port),
        Hub::Us => ("CBP-", crossing.us_port),
    };
    let mut id = Vec::with_capacity(prefix.len() + port.len() + 1 + 10);
    id.extend_from_slice(prefix.as_bytes());
    id.extend_from_slice(port.as_bytes());
    id.push(b'-');
    push_num(&mut id, i64::from(seq), 7);
    String::from_utf8(id).expect("ASCII id")
}

/// Writes a non-negative number with leading zeros to `width` digits.
fn push_num(out: &mut Vec<u8>, v: i64, width: usize) {
    let mut digits = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut len = 0;
    while n > 0 || len == 0 {
        digits[len] = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
    }
    for _ in len..width {
        out.push(b'0');
    }
    out.extend(digits[..len].iter().rev());
}

fn push_date(out: &mut Vec<u8>, (y, m, d): (i32, u32, u32)) {
    push_num(out, i64::from(y), 4);
    out.push(b'-');
    push_num(out, i64::from(m), 2);
    out.push(b'-');
    push_num(out, i64::from(d), 2);
}

/// RFC 3339 of `t`, in UTC (`Z`) or at the given offset.
fn push_time(out: &mut Vec<u8>, t: i64, offset_min: Option<i32>) {
    let off = i64::from(offset_min.unwrap_or(0)) * 60;
    let local = t + off;
    push_date(out, civil(local.div_euclid(DAY)));
    let s = local.rem_euclid(DAY);
    out.push(b'T');
    push_num(out, s / 3600, 2);
    out.push(b':');
    push_num(out, s % 3600 / 60, 2);
    out.push(b':');
    push_num(out, s % 60, 2);
    match offset_min {
        None => out.push(b'Z'),
        Some(m) => {
            out.push(if m < 0 { b'-' } else { b'+' });
            push_num(out, i64::from(m.abs() / 60), 2);
            out.push(b':');
            push_num(out, i64::from(m.abs() % 60), 2);
        }
    }
}

/// Writes one CSV field, quoting when needed or asked.
fn push_field(out: &mut Vec<u8>, s: &[u8], quote: bool) {
    let needs = s.iter().any(|b| matches!(b, b'"' | b',' | b'\n' | b'\r'));
    if quote || needs {
        out.push(b'"');
        for b in s {
            if *b == b'"' {
                out.push(b'"');
            }
            out.push(*b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s);
    }
}

fn mrz_date(d: PartialDate) -> icao::MrzDate {
    icao::MrzDate {
        yy: (d.year % 100) as u8,
        month: d.month,
        day: d.day,
    }
}

/// Recomputes the composite check digit of an MRZ.
fn fix_composite(lines: &mut [String]) {
    match lines.len() {
        2 => {
            let l2 = &lines[1];
            let comp = format!("{}{}{}", &l2[0..10], &l2[13..20], &l2[21..43]);
            let c = icao::check_digit(&comp).unwrap_or('0');
            lines[1].replace_range(43..44, c.encode_utf8(&mut [0; 4]));
        }
        3 => {
            let (l1, l2) = (&lines[0], &lines[1]);
            let comp = format!("{}{}{}{}", &l1[5..30], &l2[0..7], &l2[8..15], &l2[18..29]);
            let c = icao::check_digit(&comp).unwrap_or('0');
            lines[1].replace_range(29..30, c.encode_utf8(&mut [0; 4]));
        }
        _ => {}
    }
}

impl Render<'_> {
    /// The names and date of birth as this record carries them.
    fn identity<'s>(&'s self, r: &Rec) -> (&'s str, &'s str, &'s str, PartialDate) {
        if r.ov != NO_OVERRIDE {
            let o = &self.overrides[r.ov as usize];
            (&o.family, &o.given, &o.middle, o.dob)
        } else {
            let p = &self.persons[r.person as usize];
            (&p.family_name, &p.given_name, &p.middle_names, p.dob)
        }
    }

    fn csv_row(&self, out: &mut Vec<u8>, id: &str, r: &Rec, quote_all: bool) {
        let p = &self.persons[r.person as usize];
        let doc = &p.documents[usize::from(r.doc)];
        let crossing = &CROSSINGS[usize::from(r.crossing)];
        let (family, given, middle, dob) = self.identity(r);
        let q = quote_all;
        let qn = quote_all || r.flags & F_QUOTE_NAMES != 0;
        let mut buf: Vec<u8> = Vec::with_capacity(64);

        push_field(out, id.as_bytes(), q);
        // Names.
        let form = if r.ov != NO_OVERRIDE {
            NameForm::Visual
        } else {
            r.form
        };
        for (n, name) in [family, given, middle].into_iter().enumerate() {
            out.push(b',');
            buf.clear();
            if n == 0 && r.flags & F_SPACES != 0 {
                buf.push(b' ');
            }
            match form {
                NameForm::Visual => push_upper(&mut buf, name),
                NameForm::Title => buf.extend_from_slice(name.as_bytes()),
                NameForm::Mrz => buf.extend_from_slice(names::mrz_transliterate(name).as_bytes()),
            }
            if n == 0 && r.flags & F_SPACES != 0 {
                if let Some(sp) = buf.iter().skip(1).position(|b| *b == b' ') {
                    buf.insert(sp + 1, b' ');
                }
                buf.push(b' ');
            }
            let quote = qn && buf.iter().any(|b| *b == b' ' || *b == b'\'');
            push_field(out, &buf, q || quote);
        }
        // Birth date.
        out.push(b',');
        buf.clear();
        push_num(&mut buf, i64::from(dob.year), 4);
        buf.push(b'-');
        if r.malformed == Some(MalformedKind::ImpossibleDate) {
            buf.extend_from_slice(b"02-30");
        } else {
            push_num(&mut buf, i64::from(dob.month.unwrap_or(0)), 2);
            buf.push(b'-');
            push_num(&mut buf, i64::from(dob.day.unwrap_or(0)), 2);
        }
        push_field(out, &buf, q);
        out.push(b',');
        push_field(out, &[p.sex.as_char() as u8], q);
        // Nationality and citizenships.
        out.push(b',');
        let nationality = if r.malformed == Some(MalformedKind::UnknownCountry) {
            "ZZZ"
        } else if p.nationality == "DEU" && r.flags & F_NAT_SHORT != 0 {
            "D"
        } else {
            p.nationality
        };
        push_field(out, nationality.as_bytes(), q);
        out.push(b',');
        buf.clear();
        for c in p.citizenships.iter().filter(|c| **c != p.nationality) {
            if !buf.is_empty() {
                buf.push(b';');
            }
            buf.extend_from_slice(c.as_bytes());
        }
        push_field(out, &buf, q);
        out.push(b',');
        buf.clear();
        for (n, s) in p.residency.iter().enumerate() {
            if n > 0 {
                buf.push(b';');
            }
            buf.extend_from_slice(s.as_str().as_bytes());
        }
        push_field(out, &buf, q);
        // Document.
        out.push(b',');
        push_field(out, doc.doc_type.as_bytes(), q);
        out.push(b',');
        push_field(out, doc.number.as_bytes(), q);
        out.push(b',');
        push_field(out, iso_of(doc.issuer).as_bytes(), q);
        // Crossing.
        out.push(b',');
        buf.clear();
        let offset = (r.flags & F_LOCAL_TIME != 0).then_some(crossing.utc_offset_min);
        push_time(&mut buf, r.at, offset);
        push_field(out, &buf, q);
        out.push(b',');
        push_field(out, crossing.ca_port.as_bytes(), q);
        out.push(b',');
        let mode = if r.flags & F_LOWER_MODE != 0 {
            r.mode.as_lower()
        } else {
            r.mode.as_str()
        };
        push_field(out, mode.as_bytes(), q);
        let field_count_wrong = r.malformed == Some(MalformedKind::CsvFieldCount);
        if field_count_wrong && r.flags & F_ALT == 0 {
            // 15 fields: authorised_until is missing.
            return;
        }
        out.push(b',');
        buf.clear();
        if let Some(day) = r.auth {
            push_date(&mut buf, civil(day));
        }
        push_field(out, &buf, q);
        if field_count_wrong {
            // 17 fields: a stray trailing column.
            out.extend_from_slice(b",X");
        }
    }

    /// The MRZ lines of the record's document with its (possibly noisy)
    /// names and date of birth, malformed as asked.
    fn mrz(&self, r: &Rec) -> Vec<String> {
        let p = &self.persons[r.person as usize];
        let doc = &p.documents[usize::from(r.doc)];
        let nation = NATIONS[usize::from(self.extra[r.person as usize].nation)].mrz;
        let (family, given, middle, dob) = self.identity(r);
        let family = names::mrz_transliterate(family);
        let given = names::mrz_transliterate(given);
        let middle = names::mrz_transliterate(middle);
        let given_parts: [&str; 2] = [&given, &middle];
        let (y, m, d) = doc.expiry;
        let parts = icao::MrzParts {
            document_code: doc.doc_type,
            issuing_state: doc.issuer,
            document_number: &doc.number,
            nationality: nation,
            birth_date: mrz_date(dob),
            sex: p.sex.mrz(),
            expiry_date: icao::MrzDate {
                yy: (y % 100) as u8,
                month: Some(m as u8),
                day: Some(d as u8),
            },
            family_name: &family,
            given_names: &given_parts,
            optional_data: "",
            optional_data_2: "",
        };
        let mut lines: Vec<String> = if doc.is_card() {
            icao::build_td1(&parts).map(Vec::from)
        } else {
            icao::build_td3(&parts).map(Vec::from)
        }
        .unwrap_or_else(|e| panic!("generator built an invalid MRZ for {:?}: {e}", doc));
        let td3 = lines.len() == 2;
        match r.malformed {
            Some(MalformedKind::UnknownCountry) => {
                let range = if td3 { 10..13 } else { 15..18 };
                lines[1].replace_range(range, "ZZZ");
            }
            Some(MalformedKind::ImpossibleDate) => {
                let (start, cd) = if td3 { (13, 19) } else { (0, 6) };
                let field = format!("{:02}0230", dob.year % 100);
                let c = icao::check_digit(&field).unwrap_or('0');
                lines[1].replace_range(start..start + 6, &field);
                lines[1].replace_range(cd..cd + 1, c.encode_utf8(&mut [0; 4]));
                fix_composite(&mut lines);
            }
            Some(MalformedKind::BadCheckDigit) => {
                // TD3: the document number's or the birth date's check
                // digit; TD1: the birth date's.
                let pos = if td3 && r.flags & F_ALT != 0 {
                    9
                } else if td3 {
                    19
                } else {
                    6
                };
                let old = lines[1].as_bytes()[pos];
                let new = if old.is_ascii_digit() {
                    b'0' + (old - b'0' + 1) % 10
                } else {
                    b'1'
                };
                lines[1].replace_range(pos..pos + 1, (new as char).encode_utf8(&mut [0; 4]));
                fix_composite(&mut lines);
            }
            _ => {}
        }
        lines
    }

    fn json_record(&self, out: &mut Vec<u8>, id: &str, r: &Rec) {
        let p = &self.persons[r.person as usize];
        let crossing = &CROSSINGS[usize::from(r.crossing)];
        out.extend_from_slice(b"{\"event_id\":\"");
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(b"\",\"mrz\":[");
        for (n, line) in self.mrz(r).iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(line.as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(b"],\"inspected_at\":\"");
        let offset = (r.flags & F_LOCAL_TIME != 0).then_some(crossing.utc_offset_min);
        push_time(out, r.at, offset);
        out.extend_from_slice(b"\",\"port\":\"");
        out.extend_from_slice(crossing.us_port.as_bytes());
        out.extend_from_slice(b"\",\"mode\":\"");
        out.extend_from_slice(r.mode.as_lower().as_bytes());
        out.push(b'"');
        let others = p.citizenships.iter().filter(|c| **c != p.nationality);
        if p.citizenships.len() > 1 || r.flags & F_CIT_WITH_NAT != 0 {
            out.extend_from_slice(b",\"citizenships\":[");
            let mut first = true;
            let with_nat = (r.flags & F_CIT_WITH_NAT != 0).then_some(&p.nationality);
            for c in with_nat.into_iter().chain(others) {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.push(b'"');
                out.extend_from_slice(c.as_bytes());
                out.push(b'"');
            }
            out.push(b']');
        }
        if !p.residency.is_empty() {
            out.extend_from_slice(b",\"residency\":[");
            for (n, s) in p.residency.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                out.push(b'"');
                out.extend_from_slice(s.as_str().as_bytes());
                out.push(b'"');
            }
            out.push(b']');
        }
        match r.auth {
            Some(day) => {
                out.extend_from_slice(b",\"admit_until\":\"");
                push_date(out, civil(day));
                out.push(b'"');
            }
            None if r.flags & F_NULL_ADMIT != 0 => out.extend_from_slice(b",\"admit_until\":null"),
            None => {}
        }
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn small(seed: u64, trips: usize, noise: Noise) -> Dataset {
        generate(&Config {
            seed,
            trips,
            noise,
            batch_records: 500,
            ..Config::default()
        })
    }

    /// RFC 4180 records of a CSV document (fields unquoted).
    fn parse_csv(doc: &[u8]) -> Vec<Vec<String>> {
        let text = std::str::from_utf8(doc).expect("CSV is UTF-8");
        let mut rows = Vec::new();
        let mut row = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if quoted {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => quoted = false,
                    c => field.push(c),
                }
                continue;
            }
            match c {
                '"' => quoted = true,
                ',' => row.push(std::mem::take(&mut field)),
                '\r' => {}
                '\n' => {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                c => field.push(c),
            }
        }
        assert!(!quoted, "unterminated quote");
        if !field.is_empty() || !row.is_empty() {
            row.push(field);
            rows.push(row);
        }
        rows
    }

    fn ca_rows(b: &HubBatches) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for doc in &b.ca {
            let mut rows = parse_csv(doc).into_iter();
            let header = rows.next().expect("header");
            assert_eq!(header.join(","), CA_CSV_HEADER);
            out.extend(rows);
        }
        out
    }

    fn us_records(b: &HubBatches) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for doc in &b.us {
            let v: serde_json::Value = serde_json::from_slice(doc).expect("JSON feed parses");
            assert_eq!(v["feed"], US_FEED);
            out.extend(v["records"].as_array().expect("records").iter().cloned());
        }
        out
    }

    #[test]
    fn deterministic_for_a_seed() {
        let a = small(7, 2_000, Noise::Heavy);
        let b = small(7, 2_000, Noise::Heavy);
        assert_eq!(a.history, b.history);
        assert_eq!(a.day, b.day);
        assert_eq!(a.truth.persons, b.truth.persons);
        assert_eq!(a.truth.trips, b.truth.trips);
        assert_eq!(a.truth.records, b.truth.records);
        let c = small(8, 2_000, Noise::Heavy);
        assert_ne!(a.day, c.day);
    }

    #[test]
    fn csv_has_the_header_and_field_counts() {
        let d = small(1, 5_000, Noise::Moderate);
        let mut seen = 0;
        let mut malformed = HashSet::new();
        for batches in [&d.history, &d.day] {
            for doc in &batches.ca {
                assert!(parse_csv(doc).len() <= 500 + 1);
            }
            for row in ca_rows(batches) {
                let id = &row[0];
                let t = d
                    .truth
                    .record(id)
                    .unwrap_or_else(|| panic!("{id} not in truth"));
                assert_eq!(t.hub, Hub::Ca);
                seen += 1;
                if t.malformed == Some(MalformedKind::CsvFieldCount) {
                    assert_ne!(row.len(), CA_CSV_COLUMNS, "{id}");
                    malformed.insert(MalformedKind::CsvFieldCount);
                    continue;
                }
                assert_eq!(row.len(), CA_CSV_COLUMNS, "{id}: {row:?}");
                let birth = dates::parse_partial_date(&row[4]);
                let nat_ok = icao::is_country_code(&row[6]);
                match t.malformed {
                    Some(MalformedKind::ImpossibleDate) => {
                        assert!(birth.is_err(), "{id}");
                        malformed.insert(MalformedKind::ImpossibleDate);
                    }
                    Some(MalformedKind::UnknownCountry) => {
                        assert!(!nat_ok, "{id}");
                        malformed.insert(MalformedKind::UnknownCountry);
                    }
                    Some(k) => panic!("{id}: {k:?} in a CSV"),
                    None => {
                        assert!(birth.is_ok(), "{id}: {}", row[4]);
                        assert!(nat_ok, "{id}: {}", row[6]);
                    }
                }
                assert!(!row[1].trim().is_empty(), "{id}: empty surname");
                assert!(matches!(row[5].as_str(), "F" | "M" | "X"));
                assert!(icao::is_country_code(&row[11]), "{id}: issuer {}", row[11]);
                for c in row[7].split(';').filter(|c| !c.is_empty()) {
                    assert!(icao::is_country_code(c), "{id}: {c}");
                }
                assert_eq!(dates::parse_rfc3339(&row[12]).ok(), Some(t.at), "{id}");
                assert!(!row[13].is_empty() && row[13].len() <= 8);
                assert!(
                    ["VEHICLE", "PEDESTRIAN", "FERRY", "RAIL", "BUS", "SEA"]
                        .contains(&row[14].to_uppercase().as_str())
                );
                if !row[15].is_empty() {
                    dates::parse_date(&row[15]).expect("authorised_until");
                }
                // Names: letters (any script), spaces, hyphens, apostrophes.
                for name in &row[1..4] {
                    assert!(
                        name.chars()
                            .all(|c| c.is_alphabetic() || c == ' ' || c == '-' || c == '\''),
                        "{id}: {name:?}"
                    );
                }
            }
        }
        assert_eq!(malformed.len(), 3, "every CA malformed kind appears");
        let ca_total = d
            .truth
            .records
            .values()
            .filter(|r| r.hub == Hub::Ca)
            .count();
        assert_eq!(seen, ca_total);
    }

    #[test]
    fn every_mrz_is_well_formed_except_malformed_ones() {
        let d = small(2, 5_000, Noise::Heavy);
        let mut kinds = HashSet::new();
        let mut cards = 0;
        for batches in [&d.history, &d.day] {
            for doc in &batches.us {
                assert!(
                    us_records(&HubBatches {
                        ca: vec![],
                        us: vec![doc.clone()]
                    })
                    .len()
                        <= 500
                );
            }
            for rec in us_records(batches) {
                let id = rec["event_id"].as_str().unwrap();
                let t = d
                    .truth
                    .record(id)
                    .unwrap_or_else(|| panic!("{id} not in truth"));
                assert_eq!(t.hub, Hub::Us);
                let lines: Vec<&str> = rec["mrz"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_str().unwrap())
                    .collect();
                let width = match lines.len() {
                    2 => 44,
                    3 => {
                        cards += 1;
                        30
                    }
                    n => panic!("{id}: {n} lines"),
                };
                for l in &lines {
                    assert_eq!(l.len(), width, "{id}: {l}");
                    assert!(
                        l.bytes()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'<')
                    );
                }
                // Check digits recomputed independently of the parser.
                let l2 = lines[1];
                let checks: Vec<(String, u8)> = if width == 44 {
                    vec![
                        (l2[0..9].to_string(), l2.as_bytes()[9]),
                        (l2[13..19].to_string(), l2.as_bytes()[19]),
                        (l2[21..27].to_string(), l2.as_bytes()[27]),
                        (l2[28..42].to_string(), l2.as_bytes()[42]),
                        (
                            format!("{}{}{}", &l2[0..10], &l2[13..20], &l2[21..43]),
                            l2.as_bytes()[43],
                        ),
                    ]
                } else {
                    let l1 = lines[0];
                    vec![
                        (l2[0..6].to_string(), l2.as_bytes()[6]),
                        (l2[8..14].to_string(), l2.as_bytes()[14]),
                        (
                            format!("{}{}{}{}", &l1[5..30], &l2[0..7], &l2[8..15], &l2[18..29]),
                            l2.as_bytes()[29],
                        ),
                    ]
                };
                let bad = checks
                    .iter()
                    .filter(|(f, c)| {
                        let want = icao::check_digit(f).unwrap();
                        // An empty optional field may carry `<` as its check digit.
                        !(*c as char == want || (*c == b'<' && f.bytes().all(|b| b == b'<')))
                    })
                    .count();
                let parsed = icao::parse_mrz(&lines);
                match t.malformed {
                    None => {
                        assert_eq!(bad, 0, "{id}: {lines:?}");
                        let mrz = parsed.unwrap_or_else(|e| panic!("{id}: {e}"));
                        let person = &d.truth.persons[t.person];
                        let doc = &person.documents[t.document];
                        assert_eq!(mrz.document_number, doc.number);
                        assert_eq!(
                            d.truth
                                .person_by_document(&mrz.issuing_state, &mrz.document_number),
                            Some(t.person)
                        );
                        mrz.birth_date_at(t.at)
                            .unwrap_or_else(|e| panic!("{id}: {e}"));
                    }
                    Some(MalformedKind::BadCheckDigit) => {
                        assert_eq!(bad, 1, "{id}: exactly one wrong check digit");
                        assert!(parsed.is_err());
                    }
                    Some(MalformedKind::ImpossibleDate | MalformedKind::UnknownCountry) => {
                        assert_eq!(bad, 0, "{id}");
                        assert!(parsed.is_err(), "{id}: {lines:?}");
                    }
                    Some(k) => panic!("{id}: {k:?} in a JSON feed"),
                }
                if let Some(k) = t.malformed {
                    kinds.insert(k);
                }
                if let Some(a) = rec.get("admit_until").and_then(|a| a.as_str()) {
                    dates::parse_date(a).expect("admit_until");
                }
                assert_eq!(
                    dates::parse_rfc3339(rec["inspected_at"].as_str().unwrap()).ok(),
                    Some(t.at)
                );
            }
        }
        assert_eq!(kinds.len(), 3, "every US malformed kind appears");
        assert!(cards > 0, "some TD1 cards");
    }

    #[test]
    fn shares_are_near_the_configured_values() {
        let n = 20_000;
        for noise in [Noise::Light, Noise::Moderate, Noise::Heavy] {
            let d = small(3, n, noise);
            let s = d.truth.summary();
            let share = |k: usize| k as f64 / n as f64;
            let citizens = share(s.citizen_persons);
            assert!((0.65..0.73).contains(&citizens), "citizens {citizens}");
            let noisy = share(s.noisy_trips);
            let want = noise.trip_rate();
            assert!((noisy - want).abs() < 0.02, "{noise:?}: noisy {noisy}");
            let missing = share(s.missing_entries);
            assert!((0.015..0.05).contains(&missing), "missing {missing}");
            let records = (s.ca_records + s.us_records) as f64;
            let malformed = s.malformed.iter().sum::<usize>() as f64 / records;
            assert!((0.004..0.006).contains(&malformed), "malformed {malformed}");
            if noise == Noise::Heavy {
                assert!(d.truth.trips.iter().any(|t| t.noise.len() == 2));
                for k in NoiseKind::ALL {
                    assert!(s.noise[k as usize] > 0, "{k:?} never drawn");
                }
            }
            assert!(s.overstays > 0);
        }
    }

    #[test]
    fn history_precedes_the_day_and_ids_are_unique() {
        let cfg = Config::new(4, 3_000);
        let d = generate(&cfg);
        assert_eq!(
            d.truth.records.len(),
            d.truth
                .trips
                .iter()
                .map(|t| 1 + usize::from(t.entry.is_some()))
                .sum::<usize>()
        );
        let start = cfg.day_start;
        for t in &d.truth.trips {
            assert!((start..start + DAY).contains(&t.exit_at));
            if let Some(a) = t.entry_at {
                assert!(a < t.exit_at);
                assert!((start - HISTORY_DAYS * DAY..start).contains(&a));
            }
            let b = &d.truth.records[&t.exit];
            assert_eq!((b.part, b.hub), (Part::Exit, t.entered.other()));
            if let Some(id) = &t.entry {
                let a = &d.truth.records[id];
                assert_eq!(
                    (a.part, a.hub, a.person),
                    (Part::Entry, t.entered, t.person)
                );
            }
            if t.expect_shared {
                assert!(!d.truth.persons[t.person].citizen);
            }
        }
        // Ids are prefixed by hub and unique (the map would have merged them).
        for id in d.truth.records.keys() {
            assert!(id.starts_with("CA-") || id.starts_with("CBP-"), "{id}");
        }
    }

    #[test]
    fn documents_lead_back_to_their_person() {
        let d = small(5, 3_000, Noise::Heavy);
        for (i, p) in d.truth.persons.iter().enumerate() {
            for doc in &p.documents {
                assert_eq!(d.truth.person_by_document(doc.issuer, &doc.number), Some(i));
                assert_eq!(
                    d.truth.person_by_document(iso_of(doc.issuer), &doc.number),
                    Some(i)
                );
            }
            assert_eq!(
                p.citizen,
                p.citizenships.iter().any(|c| *c == "CAN" || *c == "USA")
            );
        }
        assert!(d.truth.persons.iter().any(|p| p.documents.len() > 1));
        assert!(d.truth.person_by_document("ZZZ", "0").is_none());
    }

    #[test]
    fn noise_shows_in_the_records() {
        let d = small(6, 4_000, Noise::Heavy);
        let ca: HashMap<String, Vec<String>> = [&d.history, &d.day]
            .into_iter()
            .flat_map(ca_rows)
            .map(|r| (r[0].clone(), r))
            .collect();
        let mut checked = 0;
        for t in &d.truth.trips {
            if t.noise != [NoiseKind::NameSwap] || t.entered != Hub::Us {
                continue;
            }
            // B is a CA row: surname is the person's given name.
            let p = &d.truth.persons[t.person];
            let row = &ca[&t.exit];
            if d.truth.records[&t.exit].malformed == Some(MalformedKind::CsvFieldCount) {
                continue;
            }
            assert_eq!(row[1].trim(), p.given_name.to_uppercase());
            checked += 1;
        }
        assert!(checked > 0);
    }

    #[test]
    fn names_cover_diacritics_and_mrz_forms() {
        let d = small(9, 5_000, Noise::Light);
        let rows: Vec<Vec<String>> = [&d.history, &d.day].into_iter().flat_map(ca_rows).collect();
        assert!(
            rows.iter().any(|r| !r[1].is_ascii()),
            "some CSV surnames keep diacritics"
        );
        assert!(
            rows.iter().any(|r| r[1].chars().any(|c| c.is_lowercase())),
            "some in title case"
        );
        assert!(
            rows.iter().any(|r| r[1].contains(' ')),
            "multi-part surnames"
        );
        let with_middle = d
            .truth
            .persons
            .iter()
            .filter(|p| !p.middle_names.is_empty())
            .count();
        let share = with_middle as f64 / d.truth.persons.len() as f64;
        assert!((0.3..0.55).contains(&share), "middle names {share}");
        assert!(d.truth.persons.iter().any(|p| p.dob.day.is_none()));
    }
}
