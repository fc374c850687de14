//! ICAO 9303 codes and machine-readable zones (MRZ).
//!
//! * [`is_country_code`]: the three-letter codes an MRZ may carry as issuing
//!   state or nationality.
//! * [`check_digit`]: the 7-3-1 check digit of ICAO 9303 part 3.
//! * [`parse_mrz`], [`parse_td3`], [`parse_td1`]: read a passport (TD3, 2 × 44)
//!   or card (TD1, 3 × 30) MRZ into an [`Mrz`], validating every check
//!   digit; a refusal is an [`MrzError`] naming the line and field.
//! * [`build_td3`], [`build_td1`], [`mrz_name_field`]: write an MRZ from parts,
//!   so that test data carries exactly what the parsers check.
//!
//! Everything here works on ASCII and never panics on any input.

use std::fmt;

use crate::dates::{PartialDate, is_valid_date};

/// ISO 3166-1 alpha-3 codes in current use (249), sorted for binary search.
pub const ISO_3166_ALPHA3: [&str; 249] = [
    "ABW", "AFG", "AGO", "AIA", "ALA", "ALB", "AND", "ARE", "ARG", "ARM", "ASM", "ATA", "ATF",
    "ATG", "AUS", "AUT", "AZE", "BDI", "BEL", "BEN", "BES", "BFA", "BGD", "BGR", "BHR", "BHS",
    "BIH", "BLM", "BLR", "BLZ", "BMU", "BOL", "BRA", "BRB", "BRN", "BTN", "BVT", "BWA", "CAF",
    "CAN", "CCK", "CHE", "CHL", "CHN", "CIV", "CMR", "COD", "COG", "COK", "COL", "COM", "CPV",
    "CRI", "CUB", "CUW", "CXR", "CYM", "CYP", "CZE", "DEU", "DJI", "DMA", "DNK", "DOM", "DZA",
    "ECU", "EGY", "ERI", "ESH", "ESP", "EST", "ETH", "FIN", "FJI", "FLK", "FRA", "FRO", "FSM",
    "GAB", "GBR", "GEO", "GGY", "GHA", "GIB", "GIN", "GLP", "GMB", "GNB", "GNQ", "GRC", "GRD",
    "GRL", "GTM", "GUF", "GUM", "GUY", "HKG", "HMD", "HND", "HRV", "HTI", "HUN", "IDN", "IMN",
    "IND", "IOT", "IRL", "IRN", "IRQ", "ISL", "ISR", "ITA", "JAM", "JEY", "JOR", "JPN", "KAZ",
    "KEN", "KGZ", "KHM", "KIR", "KNA", "KOR", "KWT", "LAO", "LBN", "LBR", "LBY", "LCA", "LIE",
    "LKA", "LSO", "LTU", "LUX", "LVA", "MAC", "MAF", "MAR", "MCO", "MDA", "MDG", "MDV", "MEX",
    "MHL", "MKD", "MLI", "MLT", "MMR", "MNE", "MNG", "MNP", "MOZ", "MRT", "MSR", "MTQ", "MUS",
    "MWI", "MYS", "MYT", "NAM", "NCL", "NER", "NFK", "NGA", "NIC", "NIU", "NLD", "NOR", "NPL",
    "NRU", "NZL", "OMN", "PAK", "PAN", "PCN", "PER", "PHL", "PLW", "PNG", "POL", "PRI", "PRK",
    "PRT", "PRY", "PSE", "PYF", "QAT", "REU", "ROU", "RUS", "RWA", "SAU", "SDN", "SEN", "SGP",
    "SGS", "SHN", "SJM", "SLB", "SLE", "SLV", "SMR", "SOM", "SPM", "SRB", "SSD", "STP", "SUR",
    "SVK", "SVN", "SWE", "SWZ", "SXM", "SYC", "SYR", "TCA", "TCD", "TGO", "THA", "TJK", "TKL",
    "TKM", "TLS", "TON", "TTO", "TUN", "TUR", "TUV", "TWN", "TZA", "UGA", "UKR", "UMI", "URY",
    "USA", "UZB", "VAT", "VCT", "VEN", "VGB", "VIR", "VNM", "VUT", "WLF", "WSM", "YEM", "ZAF",
    "ZMB", "ZWE",
];

/// Codes ICAO 9303 part 3 adds to ISO 3166-1: Germany's `D`, the British
/// variants, stateless persons and refugees, the UN, the EU, Kosovo, the
/// organisations that issue travel documents, and `UTO`, the fictional state
/// of ICAO's specimen documents (so the specimens themselves are accepted).
pub const ICAO_SPECIAL_CODES: [&str; 27] = [
    "D",   // Germany
    "EUE", // European Union
    "GBD", // British Overseas Territories Citizen
    "GBN", // British National (Overseas)
    "GBO", // British Overseas Citizen
    "GBP", // British Protected Person
    "GBS", // British Subject
    "RKS", // Kosovo
    "UNA", // specialised agency of the United Nations
    "UNK", // resident of Kosovo, UN interim administration
    "UNO", // United Nations
    "UTO", // Utopia, ICAO specimen documents
    "XBA", // African Development Bank
    "XCC", // Caribbean Community
    "XCE", // Council of Europe
    "XCO", // Common Market for Eastern and Southern Africa
    "XDC", // Southern African Development Community
    "XEC", // Economic Community of West African States
    "XES", // Organisation of Eastern Caribbean States
    "XIM", // African Export-Import Bank
    "XMP", // Parliamentary Assembly of the Mediterranean
    "XOM", // Sovereign Military Order of Malta
    "XPO", // Interpol
    "XXA", // stateless person
    "XXB", // refugee (1951 Convention)
    "XXC", // refugee (other)
    "XXX", // unspecified nationality
];

/// Whether `code` is an ICAO 9303 nationality / issuing-state code: an ISO
/// 3166-1 alpha-3 code in current use or an ICAO special. Upper case only,
/// without MRZ filler (`D`, not `D<<`).
pub fn is_country_code(code: &str) -> bool {
    ISO_3166_ALPHA3.binary_search(&code).is_ok() || ICAO_SPECIAL_CODES.contains(&code)
}

/// The ICAO 9303 check digit of an MRZ field: weights 7, 3, 1 repeating,
/// `0`-`9` as their value, `A`-`Z` as 10-35, `<` as 0, the sum modulo 10.
/// `None` if the field holds a character outside `A-Z0-9<`.
pub fn check_digit(field: &str) -> Option<char> {
    const WEIGHTS: [u32; 3] = [7, 3, 1];
    let mut sum = 0u32;
    for (i, b) in field.bytes().enumerate() {
        let value = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            b'<' => 0,
            _ => return None,
        };
        sum = (sum + value * WEIGHTS[i % 3]) % 10;
    }
    char::from_digit(sum, 10)
}

/// Which MRZ layout a document uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MrzFormat {
    /// Passports: 2 lines of 44 characters (ICAO 9303 part 4).
    Td3,
    /// Identity and residence cards: 3 lines of 30 (ICAO 9303 part 5).
    Td1,
}

impl MrzFormat {
    /// Characters per line.
    pub fn line_length(self) -> usize {
        match self {
            MrzFormat::Td3 => 44,
            MrzFormat::Td1 => 30,
        }
    }

    /// Number of lines.
    pub fn line_count(self) -> usize {
        match self {
            MrzFormat::Td3 => 2,
            MrzFormat::Td1 => 3,
        }
    }

    /// Width of the name field (TD3 line 1 from position 6; TD1 line 3).
    pub fn name_width(self) -> usize {
        match self {
            MrzFormat::Td3 => 39,
            MrzFormat::Td1 => 30,
        }
    }
}

/// A `YYMMDD` date as an MRZ holds it: a two-digit year (the century is not
/// written) and a month and day that may be unknown (`<<`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MrzDate {
    /// 0-99.
    pub yy: u8,
    /// 1-12, or `None` when written `<<`.
    pub month: Option<u8>,
    /// 1-31, or `None` when written `<<`; always `None` when `month` is.
    pub day: Option<u8>,
}

impl MrzDate {
    /// The six MRZ characters, `<<` for unknown parts.
    pub fn to_field(&self) -> String {
        let two = |v: Option<u8>| v.map_or_else(|| "<<".to_string(), |v| format!("{v:02}"));
        format!("{:02}{}{}", self.yy % 100, two(self.month), two(self.day))
    }

    /// Why the date cannot be written or read, if it cannot: the year must
    /// be 0-99, a month 1-12, a day possible in that month in some year
    /// (29 February is checked once the century is known).
    fn problem(&self) -> Option<String> {
        if self.yy > 99 {
            return Some(format!(
                "has year {}; two digits 00-99 are written",
                self.yy
            ));
        }
        match (self.month, self.day) {
            (None, Some(_)) => Some("has a day but an unknown (<<) month".to_string()),
            (Some(m), _) if !(1..=12).contains(&m) => Some(format!(
                "has month {m:02}; months are 01-12, or << when unknown"
            )),
            // 2000 is a leap year, so this accepts 29 February; see above.
            (Some(m), Some(d)) if !is_valid_date(2000, u32::from(m), u32::from(d)) => {
                Some(format!(
                    "has day {d:02}, which month {m:02} never has; days are 01-{:02}, or << when unknown",
                    crate::dates::days_in_month(2000, u32::from(m))
                ))
            }
            _ => None,
        }
    }
}

/// A parsed machine-readable zone. Text fields hold no filler: trailing `<`
/// are removed, and `<` inside a name component becomes a space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mrz {
    pub format: MrzFormat,
    /// Document code, 1-2 characters: `P`, `PD`, `I`, `ID`, `AC`...
    pub document_code: String,
    /// ICAO code of the issuing state or organisation (`UTO`, `D`).
    pub issuing_state: String,
    /// The whole document number, including the part a TD1 card carries in
    /// its optional-data field when the number is longer than 9 characters.
    pub document_number: String,
    /// ICAO code of the holder's nationality.
    pub nationality: String,
    pub birth_date: MrzDate,
    /// `F`, `M`, `X` or `<` (unspecified), as written.
    pub sex: char,
    pub expiry_date: MrzDate,
    /// The primary identifier, e.g. `ERIKSSON` or `VAN DER BERG`.
    pub family_name: String,
    /// The secondary identifier's components, e.g. `["ANNA", "MARIA"]`.
    pub given_names: Vec<String>,
    /// Whether the name fills its field to the last character, so it may
    /// have been truncated when the document was issued.
    pub name_may_be_truncated: bool,
    /// TD3: personal number / optional data (line 2, positions 29-42).
    /// TD1: optional data of line 1 after the document number.
    pub optional_data: String,
    /// TD1 only: optional data of line 2 (positions 19-29); empty for TD3.
    pub optional_data_2: String,
}

impl Mrz {
    /// The date of birth with its century inferred from `reference_unix`
    /// (the moment of inspection): the latest year ending in `yy` that does
    /// not put the birth after the reference. Refuses a 29 February that the
    /// inferred year does not have.
    pub fn birth_date_at(&self, reference_unix: i64) -> Result<PartialDate, MrzError> {
        // Both layouts carry the date of birth on line 2.
        let line = 2;
        let (ref_year, _, _) = crate::dates::civil_from_unix(reference_unix);
        let d = self.birth_date;
        let mut year = ref_year.div_euclid(100) * 100 + i64::from(d.yy);
        let candidate = |year: i64| PartialDate {
            year: year.clamp(0, 9999) as u16,
            month: d.month,
            day: d.day,
        };
        if candidate(year).earliest_unix() > reference_unix {
            year -= 100;
        }
        if !(1..=9999).contains(&year) {
            return Err(MrzError::new(
                Some(line),
                "date of birth",
                MrzErrorKind::Date,
                format!(
                    "{} cannot be placed in a century before the inspection time",
                    d.to_field()
                ),
            ));
        }
        if let (Some(m), Some(day)) = (d.month, d.day)
            && !is_valid_date(year as i32, u32::from(m), u32::from(day))
        {
            return Err(MrzError::new(
                Some(line),
                "date of birth",
                MrzErrorKind::Date,
                format!(
                    "{} would be {day} {} {year}, which did not exist; re-read the document",
                    d.to_field(),
                    crate::dates::month_name(u32::from(m))
                ),
            ));
        }
        Ok(candidate(year))
    }

    /// The parts to rebuild this MRZ with [`build_td3`] or [`build_td1`].
    /// `given` receives the given names as `&str`s, which the parts borrow.
    pub fn to_parts<'a>(&'a self, given: &'a [&'a str]) -> MrzParts<'a> {
        MrzParts {
            document_code: &self.document_code,
            issuing_state: &self.issuing_state,
            document_number: &self.document_number,
            nationality: &self.nationality,
            birth_date: self.birth_date,
            sex: self.sex,
            expiry_date: self.expiry_date,
            family_name: &self.family_name,
            given_names: given,
            optional_data: &self.optional_data,
            optional_data_2: &self.optional_data_2,
        }
    }
}

/// What kind of problem an [`MrzError`] reports, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MrzErrorKind {
    /// Not 2 lines (TD3) or 3 lines (TD1).
    LineCount,
    /// A line of the wrong length.
    LineLength,
    /// A character outside `A-Z0-9<`.
    Character,
    /// A document code that does not fit the format.
    DocumentCode,
    /// Not an ICAO 9303 country code.
    CountryCode,
    /// An empty or malformed document number.
    DocumentNumber,
    /// A date that cannot exist.
    Date,
    /// A sex other than `F`, `M`, `X` or `<`.
    Sex,
    /// A name field without a primary identifier.
    Name,
    /// A check digit that does not match its field.
    CheckDigit,
}

/// Why an MRZ was refused: where (line and field), what was wrong and what
/// to do. Displayed as one sentence, e.g. `mrz line 2: date of birth check
/// digit is '3' but 740812 gives '2'; re-read the document`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MrzError {
    /// 1-based MRZ line, or `None` for the MRZ as a whole.
    pub line: Option<u8>,
    /// The field at fault (`date of birth check digit`), or empty when the
    /// line as a whole is at fault.
    pub field: &'static str,
    pub kind: MrzErrorKind,
    /// What is wrong and what to do, continuing the sentence after the
    /// location: `is '3' but 740812 gives '2'; re-read the document`.
    pub detail: String,
}

impl MrzError {
    fn new(line: Option<u8>, field: &'static str, kind: MrzErrorKind, detail: String) -> Self {
        MrzError {
            line,
            field,
            kind,
            detail,
        }
    }

    /// Where the problem is, as a rejection's field: `mrz line 2: date of
    /// birth check digit`, `mrz line 1`, `mrz`.
    pub fn location(&self) -> String {
        let mut s = String::from("mrz");
        if let Some(line) = self.line {
            s.push_str(&format!(" line {line}"));
        }
        if !self.field.is_empty() {
            s.push_str(": ");
            s.push_str(self.field);
        }
        s
    }
}

impl fmt::Display for MrzError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.location(), self.detail)
    }
}

impl std::error::Error for MrzError {}

const REREAD: &str = "re-read the document";

/// Parses an MRZ given as its lines: 2 lines of 44 characters (TD3) or 3 of
/// 30 (TD1). Lines must be exactly as read: no padding, trimming or case
/// folding is applied.
pub fn parse_mrz<S: AsRef<str>>(lines: &[S]) -> Result<Mrz, MrzError> {
    match lines {
        [l1, l2] => parse_td3(l1.as_ref(), l2.as_ref()),
        [l1, l2, l3] => parse_td1(l1.as_ref(), l2.as_ref(), l3.as_ref()),
        _ => Err(MrzError::new(
            None,
            "",
            MrzErrorKind::LineCount,
            format!(
                "has {} line{}; a passport (TD3) MRZ has 2 lines of 44 characters and a card (TD1) MRZ 3 lines of 30; send every line as read",
                lines.len(),
                if lines.len() == 1 { "" } else { "s" }
            ),
        )),
    }
}

/// Checks one line's length and alphabet, returning its bytes.
fn check_line(line_no: u8, line: &str, format: MrzFormat) -> Result<&[u8], MrzError> {
    let expected = format.line_length();
    let found = line.chars().count();
    if found != expected {
        let what = match format {
            MrzFormat::Td3 => "a passport (TD3) MRZ has 2 lines of 44 characters",
            MrzFormat::Td1 => "a card (TD1) MRZ has 3 lines of 30 characters",
        };
        return Err(MrzError::new(
            Some(line_no),
            "",
            MrzErrorKind::LineLength,
            format!("is {found} characters long; {what}; send the line exactly as read"),
        ));
    }
    if let Some((pos, c)) = line
        .chars()
        .enumerate()
        .find(|(_, c)| !matches!(c, 'A'..='Z' | '0'..='9' | '<'))
    {
        return Err(MrzError::new(
            Some(line_no),
            "",
            MrzErrorKind::Character,
            format!(
                "has {c:?} at position {}; an MRZ holds only A-Z, 0-9 and '<'; {REREAD}",
                pos + 1
            ),
        ));
    }
    Ok(line.as_bytes())
}

/// A slice of an ASCII line as `&str`. Lines are checked to be ASCII of the
/// right length first, so this always succeeds; the empty fallback only
/// keeps a logic error from becoming a panic.
fn field(line: &[u8], from: usize, to: usize) -> &str {
    line.get(from..to)
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or("")
}

fn char_at(line: &[u8], pos: usize) -> char {
    line.get(pos).map_or('<', |&b| char::from(b))
}

fn strip_filler(s: &str) -> &str {
    s.trim_end_matches('<')
}

fn parse_document_code(line_no: u8, raw: &str, format: MrzFormat) -> Result<String, MrzError> {
    let mut chars = raw.chars();
    let first = chars.next().unwrap_or('<');
    let second = chars.next().unwrap_or('<');
    let (ok_first, expected) = match format {
        MrzFormat::Td3 => (first == 'P', "a passport (TD3) document code starts with P"),
        MrzFormat::Td1 => (
            matches!(first, 'A' | 'C' | 'I'),
            "a card (TD1) document code starts with A, C or I",
        ),
    };
    if !ok_first {
        return Err(MrzError::new(
            Some(line_no),
            "document code",
            MrzErrorKind::DocumentCode,
            format!("is '{raw}'; {expected}; check the MRZ format and {REREAD}"),
        ));
    }
    if !second.is_ascii_alphanumeric() && second != '<' {
        return Err(MrzError::new(
            Some(line_no),
            "document code",
            MrzErrorKind::DocumentCode,
            format!("is '{raw}'; the second character is a letter, a digit or '<'; {REREAD}"),
        ));
    }
    Ok(strip_filler(raw).to_string())
}

fn parse_country(line_no: u8, what: &'static str, raw: &str) -> Result<String, MrzError> {
    let code = strip_filler(raw);
    if is_country_code(code) {
        Ok(code.to_string())
    } else {
        Err(MrzError::new(
            Some(line_no),
            what,
            MrzErrorKind::CountryCode,
            format!(
                "'{raw}' is not an ICAO 9303 code (ISO 3166-1 alpha-3, or a special such as D<<, XXA, UNO); {REREAD}"
            ),
        ))
    }
}

fn parse_date(line_no: u8, what: &'static str, raw: &str) -> Result<MrzDate, MrzError> {
    let err = |detail: String| {
        Err(MrzError::new(
            Some(line_no),
            what,
            MrzErrorKind::Date,
            format!("'{raw}' {detail}; {REREAD}"),
        ))
    };
    let b = raw.as_bytes();
    let part = |i: usize| -> Result<Option<u8>, ()> {
        match b.get(i..i + 2) {
            Some([b'<', b'<']) => Ok(None),
            Some([x @ b'0'..=b'9', y @ b'0'..=b'9']) => Ok(Some((x - b'0') * 10 + (y - b'0'))),
            _ => Err(()),
        }
    };
    let (yy, month, day) = match (part(0), part(2), part(4)) {
        (Ok(Some(yy)), Ok(m), Ok(d)) => (yy, m, d),
        (Ok(None), Ok(_), Ok(_)) => {
            return err("has an unknown (<<) year; the year must be known".to_string());
        }
        _ => {
            return err(
                "is not YYMMDD; each pair is two digits, or << for an unknown month or day"
                    .to_string(),
            );
        }
    };
    let date = MrzDate { yy, month, day };
    match date.problem() {
        Some(problem) => err(problem),
        None => Ok(date),
    }
}

/// Validates the check digit `found` of `data`. A field made only of filler
/// may have `<` as its check digit where `filler_ok` (ICAO allows it for
/// empty optional data).
fn verify(
    line_no: u8,
    what: &'static str,
    data: &str,
    found: char,
    filler_ok: bool,
    covers: Option<&str>,
) -> Result<(), MrzError> {
    if filler_ok && found == '<' && data.bytes().all(|b| b == b'<') {
        return Ok(());
    }
    let expected = check_digit(data).unwrap_or('?');
    if found == expected {
        return Ok(());
    }
    let source = match covers {
        Some(c) => format!("{c} give"),
        None => format!("{data} gives"),
    };
    Err(MrzError::new(
        Some(line_no),
        what,
        MrzErrorKind::CheckDigit,
        format!("is '{found}' but {source} '{expected}'; {REREAD}"),
    ))
}

fn parse_sex(line_no: u8, c: char) -> Result<char, MrzError> {
    if matches!(c, 'F' | 'M' | 'X' | '<') {
        Ok(c)
    } else {
        Err(MrzError::new(
            Some(line_no),
            "sex",
            MrzErrorKind::Sex,
            format!("is '{c}'; an MRZ has F, M or < (unspecified); {REREAD}"),
        ))
    }
}

fn plain_document_number(line_no: u8, raw: &str) -> Result<String, MrzError> {
    let number = strip_filler(raw);
    if number.is_empty() {
        return Err(MrzError::new(
            Some(line_no),
            "document number",
            MrzErrorKind::DocumentNumber,
            format!("is empty; {REREAD}"),
        ));
    }
    if number.contains('<') {
        return Err(MrzError::new(
            Some(line_no),
            "document number",
            MrzErrorKind::DocumentNumber,
            format!(
                "'{raw}' has a filler '<' inside it; a document number is letters and digits; {REREAD}"
            ),
        ));
    }
    Ok(number.to_string())
}

/// Splits a name field `FAMILY<<GIVEN<NAMES<<<` into the primary identifier
/// (with `<` inside it read as a space) and the given-name components.
fn parse_name(line_no: u8, raw: &str) -> Result<(String, Vec<String>, bool), MrzError> {
    let (primary, secondary) = raw.split_once("<<").unwrap_or((raw, ""));
    let family: Vec<&str> = primary.split('<').filter(|s| !s.is_empty()).collect();
    if family.is_empty() {
        return Err(MrzError::new(
            Some(line_no),
            "name",
            MrzErrorKind::Name,
            format!(
                "has no family name (primary identifier) before '<<'; the name field reads FAMILY<<GIVEN<NAMES; {REREAD}"
            ),
        ));
    }
    let given = secondary
        .split('<')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    Ok((family.join(" "), given, !raw.ends_with('<')))
}

/// Parses a passport (TD3) MRZ: two lines of 44 characters.
///
/// Line 1: document code (1-2), issuing state (3-5), name (6-44).
/// Line 2: document number (1-9) and check digit (10), nationality (11-13),
/// date of birth (14-19) and check digit (20), sex (21), date of expiry
/// (22-27) and check digit (28), optional data (29-42) and check digit (43),
/// composite check digit (44).
pub fn parse_td3(line1: &str, line2: &str) -> Result<Mrz, MrzError> {
    let f = MrzFormat::Td3;
    let l1 = check_line(1, line1, f)?;
    let l2 = check_line(2, line2, f)?;

    let document_code = parse_document_code(1, field(l1, 0, 2), f)?;
    let issuing_state = parse_country(1, "issuing state", field(l1, 2, 5))?;
    let (family_name, given_names, name_may_be_truncated) = parse_name(1, field(l1, 5, 44))?;

    let number_raw = field(l2, 0, 9);
    verify(
        2,
        "document number check digit",
        number_raw,
        char_at(l2, 9),
        false,
        None,
    )?;
    let document_number = plain_document_number(2, number_raw)?;
    let nationality = parse_country(2, "nationality", field(l2, 10, 13))?;
    let birth_raw = field(l2, 13, 19);
    verify(
        2,
        "date of birth check digit",
        birth_raw,
        char_at(l2, 19),
        false,
        None,
    )?;
    let birth_date = parse_date(2, "date of birth", birth_raw)?;
    let sex = parse_sex(2, char_at(l2, 20))?;
    let expiry_raw = field(l2, 21, 27);
    verify(
        2,
        "date of expiry check digit",
        expiry_raw,
        char_at(l2, 27),
        false,
        None,
    )?;
    let expiry_date = parse_date(2, "date of expiry", expiry_raw)?;
    let optional_raw = field(l2, 28, 42);
    verify(
        2,
        "optional data check digit",
        optional_raw,
        char_at(l2, 42),
        true,
        None,
    )?;
    let composite = format!(
        "{}{}{}",
        field(l2, 0, 10),
        field(l2, 13, 20),
        field(l2, 21, 43)
    );
    verify(
        2,
        "composite check digit",
        &composite,
        char_at(l2, 43),
        false,
        Some("the document number, dates and optional data"),
    )?;

    Ok(Mrz {
        format: f,
        document_code,
        issuing_state,
        document_number,
        nationality,
        birth_date,
        sex,
        expiry_date,
        family_name,
        given_names,
        name_may_be_truncated,
        optional_data: strip_filler(optional_raw).to_string(),
        optional_data_2: String::new(),
    })
}

/// Parses a card (TD1) MRZ: three lines of 30 characters.
///
/// Line 1: document code (1-2), issuing state (3-5), document number (6-14)
/// and check digit (15), optional data (16-30). A number longer than 9
/// characters has its first 9 in 6-14, `<` in 15, and the rest followed by
/// the check digit and a `<` at the start of 16-30.
/// Line 2: date of birth (1-6) and check digit (7), sex (8), date of expiry
/// (9-14) and check digit (15), nationality (16-18), optional data (19-29),
/// composite check digit (30).
/// Line 3: name.
pub fn parse_td1(line1: &str, line2: &str, line3: &str) -> Result<Mrz, MrzError> {
    let f = MrzFormat::Td1;
    let l1 = check_line(1, line1, f)?;
    let l2 = check_line(2, line2, f)?;
    let l3 = check_line(3, line3, f)?;

    let document_code = parse_document_code(1, field(l1, 0, 2), f)?;
    let issuing_state = parse_country(1, "issuing state", field(l1, 2, 5))?;

    let head = field(l1, 5, 14);
    let optional_1 = field(l1, 15, 30);
    let (document_number, optional_data) = if char_at(l1, 14) == '<' {
        // Long number: its tail and check digit open the optional data.
        let run_len = optional_1.find('<').unwrap_or(optional_1.len());
        if run_len < 2 {
            return Err(MrzError::new(
                Some(1),
                "document number",
                MrzErrorKind::DocumentNumber,
                format!(
                    "has '<' at position 15, which announces a number longer than 9 characters, but positions 16-30 do not continue it with its check digit; {REREAD}"
                ),
            ));
        }
        let tail = field(optional_1.as_bytes(), 0, run_len - 1);
        let number_raw = format!("{head}{tail}");
        let found = char_at(optional_1.as_bytes(), run_len - 1);
        verify(
            1,
            "document number check digit",
            &number_raw,
            found,
            false,
            None,
        )?;
        if head.contains('<') {
            return Err(MrzError::new(
                Some(1),
                "document number",
                MrzErrorKind::DocumentNumber,
                format!(
                    "'{number_raw}' has a filler '<' inside it; a document number is letters and digits; {REREAD}"
                ),
            ));
        }
        let rest = optional_1.get(run_len + 1..).unwrap_or("");
        (number_raw, strip_filler(rest).to_string())
    } else {
        verify(
            1,
            "document number check digit",
            head,
            char_at(l1, 14),
            false,
            None,
        )?;
        (
            plain_document_number(1, head)?,
            strip_filler(optional_1).to_string(),
        )
    };

    let birth_raw = field(l2, 0, 6);
    verify(
        2,
        "date of birth check digit",
        birth_raw,
        char_at(l2, 6),
        false,
        None,
    )?;
    let birth_date = parse_date(2, "date of birth", birth_raw)?;
    let sex = parse_sex(2, char_at(l2, 7))?;
    let expiry_raw = field(l2, 8, 14);
    verify(
        2,
        "date of expiry check digit",
        expiry_raw,
        char_at(l2, 14),
        false,
        None,
    )?;
    let expiry_date = parse_date(2, "date of expiry", expiry_raw)?;
    let nationality = parse_country(2, "nationality", field(l2, 15, 18))?;
    let optional_2 = field(l2, 18, 29);
    let composite = format!(
        "{}{}{}{}",
        field(l1, 5, 30),
        field(l2, 0, 7),
        field(l2, 8, 15),
        optional_2
    );
    verify(
        2,
        "composite check digit",
        &composite,
        char_at(l2, 29),
        false,
        Some("the document number, optional data and dates"),
    )?;

    let (family_name, given_names, name_may_be_truncated) = parse_name(3, field(l3, 0, 30))?;

    Ok(Mrz {
        format: f,
        document_code,
        issuing_state,
        document_number,
        nationality,
        birth_date,
        sex,
        expiry_date,
        family_name,
        given_names,
        name_may_be_truncated,
        optional_data,
        optional_data_2: strip_filler(optional_2).to_string(),
    })
}

/// One name component in MRZ form: ASCII letters upper-cased, spaces and
/// hyphens as `<` (runs collapsed), everything else dropped (apostrophes:
/// `O'BRIEN` is written `OBRIEN`).
fn mrz_component(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphabetic() {
            out.push(c.to_ascii_uppercase());
        } else if (c == ' ' || c == '-' || c == '<') && !out.is_empty() && !out.ends_with('<') {
            out.push('<');
        }
    }
    while out.ends_with('<') {
        out.pop();
    }
    out
}

/// The MRZ name field of `width` characters: `FAMILY<<GIVEN<NAMES` padded
/// with `<`, or cut at `width` when too long (ICAO 9303 then prefers
/// shortening by hand; a cut name still parses, as its leading part).
///
/// Names should already be transliterated to A-Z (see `names`); here
/// lower-case ASCII is upper-cased, a space or hyphen inside a component
/// becomes `<`, and any other character is dropped. Empty given names are
/// skipped; with none, the field is the family name alone.
pub fn mrz_name_field(family: &str, given: &[&str], width: usize) -> String {
    let mut out = mrz_component(family);
    let given: Vec<String> = given
        .iter()
        .map(|g| mrz_component(g))
        .filter(|g| !g.is_empty())
        .collect();
    if !given.is_empty() {
        out.push_str("<<");
        out.push_str(&given.join("<"));
    }
    out.truncate(width);
    while out.len() < width {
        out.push('<');
    }
    out
}

/// What [`build_td3`] or [`build_td1`] needs. Names must already be
/// transliterated: `A`-`Z`, spaces and hyphens only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MrzParts<'a> {
    /// `P`... for TD3; `I`, `ID`, `AC`, `C`... for TD1.
    pub document_code: &'a str,
    pub issuing_state: &'a str,
    /// Letters and digits: at most 9 for TD3, 22 for TD1 (long numbers
    /// continue in the optional data as ICAO 9303 part 5 says).
    pub document_number: &'a str,
    pub nationality: &'a str,
    pub birth_date: MrzDate,
    /// `F`, `M`, `X` or `<`.
    pub sex: char,
    pub expiry_date: MrzDate,
    pub family_name: &'a str,
    pub given_names: &'a [&'a str],
    /// TD3: personal number, at most 14 characters of `A-Z0-9<`. TD1: line
    /// 1 optional data, at most 15 characters, fewer by the number's
    /// overflow plus 2 when the number is longer than 9.
    pub optional_data: &'a str,
    /// TD1 only: line 2 optional data, at most 11 characters; must be empty
    /// for TD3.
    pub optional_data_2: &'a str,
}

/// Why [`build_td3`] or [`build_td1`] refused its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MrzBuildError {
    /// The part at fault, as named in [`MrzParts`].
    pub field: &'static str,
    pub reason: String,
}

impl fmt::Display for MrzBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot build the MRZ: {} {}", self.field, self.reason)
    }
}

impl std::error::Error for MrzBuildError {}

fn build_err<T>(field: &'static str, reason: String) -> Result<T, MrzBuildError> {
    Err(MrzBuildError { field, reason })
}

fn padded(s: &str, width: usize) -> String {
    let mut out = s.to_string();
    while out.len() < width {
        out.push('<');
    }
    out
}

fn is_mrz_text(s: &str) -> bool {
    s.bytes()
        .all(|b| matches!(b, b'A'..=b'Z' | b'0'..=b'9' | b'<'))
}

fn check_digit_of(s: &str) -> char {
    // Callers only pass text already checked with `is_mrz_text`.
    check_digit(s).unwrap_or('0')
}

/// Checks the parts both layouts share; returns the code and the two
/// country fields padded to their width.
fn check_common(
    p: &MrzParts<'_>,
    format: MrzFormat,
) -> Result<(String, String, String), MrzBuildError> {
    let code = p.document_code;
    let code_ok = match format {
        MrzFormat::Td3 => code.starts_with('P'),
        MrzFormat::Td1 => code.starts_with(['A', 'C', 'I']),
    };
    if !code_ok || code.len() > 2 || !is_mrz_text(code) {
        let expected = match format {
            MrzFormat::Td3 => "1-2 characters starting with P",
            MrzFormat::Td1 => "1-2 characters starting with A, C or I",
        };
        return build_err("document_code", format!("'{code}' must be {expected}"));
    }
    for (name, value) in [
        ("issuing_state", p.issuing_state),
        ("nationality", p.nationality),
    ] {
        if !is_country_code(value) {
            return build_err(name, format!("'{value}' is not an ICAO 9303 code"));
        }
    }
    let number = p.document_number;
    if number.is_empty()
        || !number
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return build_err(
            "document_number",
            format!("'{number}' must be 1 or more of A-Z, 0-9"),
        );
    }
    if !matches!(p.sex, 'F' | 'M' | 'X' | '<') {
        return build_err("sex", format!("'{}' must be F, M, X or <", p.sex));
    }
    for (name, date) in [("birth_date", p.birth_date), ("expiry_date", p.expiry_date)] {
        if let Some(problem) = date.problem() {
            return build_err(name, problem);
        }
    }
    let name_ok = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_uppercase() || b == b' ' || b == b'-')
    };
    if mrz_component(p.family_name).is_empty() || !name_ok(p.family_name) {
        return build_err(
            "family_name",
            format!(
                "'{}' must be non-empty A-Z, spaces and hyphens (transliterate first)",
                p.family_name
            ),
        );
    }
    if let Some(g) = p.given_names.iter().find(|g| !name_ok(g)) {
        return build_err(
            "given_names",
            format!("'{g}' must be A-Z, spaces and hyphens (transliterate first)"),
        );
    }
    for (name, value) in [
        ("optional_data", p.optional_data),
        ("optional_data_2", p.optional_data_2),
    ] {
        if !is_mrz_text(value) {
            return build_err(name, format!("'{value}' must be A-Z, 0-9 and <"));
        }
    }
    Ok((
        code.to_string(),
        padded(p.issuing_state, 3),
        padded(p.nationality, 3),
    ))
}

/// Builds a passport (TD3) MRZ, two lines of 44 characters, with every
/// check digit computed. [`parse_td3`] reads the result back to the same
/// parts (given names as their A-Z components).
pub fn build_td3(p: &MrzParts<'_>) -> Result<[String; 2], MrzBuildError> {
    let (code, state, nationality) = check_common(p, MrzFormat::Td3)?;
    if p.document_number.len() > 9 {
        return build_err(
            "document_number",
            format!(
                "'{}' is longer than the 9 characters a TD3 MRZ holds",
                p.document_number
            ),
        );
    }
    if p.optional_data.len() > 14 {
        return build_err("optional_data", "is longer than 14 characters".to_string());
    }
    if !p.optional_data_2.is_empty() {
        return build_err("optional_data_2", "must be empty for TD3".to_string());
    }
    let line1 = format!(
        "{}{}{}",
        padded(&code, 2),
        state,
        mrz_name_field(p.family_name, p.given_names, 39)
    );
    let number = padded(p.document_number, 9);
    let birth = p.birth_date.to_field();
    let expiry = p.expiry_date.to_field();
    let optional = padded(p.optional_data, 14);
    let optional_check = check_digit_of(&optional);
    let mut line2 = format!(
        "{number}{}{nationality}{birth}{}{}{expiry}{}{optional}{optional_check}",
        check_digit_of(&number),
        check_digit_of(&birth),
        p.sex,
        check_digit_of(&expiry),
    );
    let composite = format!("{}{}{}", &line2[0..10], &line2[13..20], &line2[21..43]);
    line2.push(check_digit_of(&composite));
    Ok([line1, line2])
}

/// Builds a card (TD1) MRZ, three lines of 30 characters, with every check
/// digit computed. A document number longer than 9 characters is written
/// the ICAO 9303 part 5 way: its first 9 characters, `<`, and the rest with
/// the check digit and a `<` at the start of the optional data.
pub fn build_td1(p: &MrzParts<'_>) -> Result<[String; 3], MrzBuildError> {
    let (code, state, nationality) = check_common(p, MrzFormat::Td1)?;
    let number = p.document_number;
    let number_check = check_digit_of(number);
    let (number_part, optional_1) = if number.len() <= 9 {
        (
            format!("{}{number_check}", padded(number, 9)),
            p.optional_data.to_string(),
        )
    } else {
        if number.len() > 22 {
            return build_err(
                "document_number",
                format!("'{number}' is longer than the 22 characters a TD1 MRZ holds"),
            );
        }
        let (head, tail) = number.split_at(9);
        (
            format!("{head}<"),
            format!("{tail}{number_check}<{}", p.optional_data),
        )
    };
    if optional_1.len() > 15 {
        return build_err(
            "optional_data",
            format!(
                "does not fit: with this document number, line 1 has room for {} characters of optional data",
                15usize.saturating_sub(optional_1.len() - p.optional_data.len())
            ),
        );
    }
    if p.optional_data_2.len() > 11 {
        return build_err(
            "optional_data_2",
            "is longer than 11 characters".to_string(),
        );
    }
    let line1 = format!(
        "{}{state}{number_part}{}",
        padded(&code, 2),
        padded(&optional_1, 15)
    );
    let birth = p.birth_date.to_field();
    let expiry = p.expiry_date.to_field();
    let optional_2 = padded(p.optional_data_2, 11);
    let mut line2 = format!(
        "{birth}{}{}{expiry}{}{nationality}{optional_2}",
        check_digit_of(&birth),
        p.sex,
        check_digit_of(&expiry),
    );
    let composite = format!(
        "{}{}{}{}",
        &line1[5..30],
        &line2[0..7],
        &line2[8..15],
        &line2[18..29]
    );
    line2.push(check_digit_of(&composite));
    let line3 = mrz_name_field(p.family_name, p.given_names, 30);
    Ok([line1, line2, line3])
}

#[cfg(test)]
mod tests {
    use super::*;

    const TD3: [&str; 2] = [
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
    ];
    const TD1: [&str; 3] = [
        "I<UTOD231458907<<<<<<<<<<<<<<<",
        "7408122F1204159UTO<<<<<<<<<<<6",
        "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
    ];

    fn date(yy: u8, m: u8, d: u8) -> MrzDate {
        MrzDate {
            yy,
            month: Some(m),
            day: Some(d),
        }
    }

    /// Replaces the character at 0-based `pos` of `line`.
    fn with(line: &str, pos: usize, c: char) -> String {
        let mut s: Vec<char> = line.chars().collect();
        s[pos] = c;
        s.into_iter().collect()
    }

    #[test]
    fn country_codes() {
        assert!(
            ISO_3166_ALPHA3.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicates"
        );
        for code in [
            "CAN", "USA", "DEU", "GBR", "SSD", "BES", "D", "XXA", "XXB", "XXC", "XXX", "UNO",
            "UNA", "UNK", "EUE", "GBD", "GBN", "GBO", "GBS", "GBP", "RKS", "UTO",
        ] {
            assert!(is_country_code(code), "{code}");
        }
        for code in ["", "ZZZ", "can", "D<<", "DE", "ANT", "YUG", "CANX", "XXY"] {
            assert!(!is_country_code(code), "{code}");
        }
    }

    #[test]
    fn check_digits() {
        assert_eq!(check_digit("L898902C3"), Some('6'));
        assert_eq!(check_digit("740812"), Some('2'));
        assert_eq!(check_digit("120415"), Some('9'));
        assert_eq!(check_digit("ZE184226B<<<<<"), Some('1'));
        assert_eq!(check_digit("D23145890"), Some('7'));
        assert_eq!(check_digit(""), Some('0'));
        assert_eq!(check_digit("<<<"), Some('0'));
        assert_eq!(check_digit("l898902C3"), None);
        assert_eq!(check_digit("A B"), None);
        assert_eq!(check_digit("É"), None);
    }

    #[test]
    fn icao_td3_specimen_parses() {
        let m = parse_mrz(&TD3).unwrap();
        assert_eq!(m.format, MrzFormat::Td3);
        assert_eq!(m.document_code, "P");
        assert_eq!(m.issuing_state, "UTO");
        assert_eq!(m.document_number, "L898902C3");
        assert_eq!(m.nationality, "UTO");
        assert_eq!(m.birth_date, date(74, 8, 12));
        assert_eq!(m.sex, 'F');
        assert_eq!(m.expiry_date, date(12, 4, 15));
        assert_eq!(m.family_name, "ERIKSSON");
        assert_eq!(m.given_names, ["ANNA", "MARIA"]);
        assert!(!m.name_may_be_truncated);
        assert_eq!(m.optional_data, "ZE184226B");
        assert_eq!(m.optional_data_2, "");
    }

    #[test]
    fn icao_td1_specimen_parses() {
        let m = parse_mrz(&TD1).unwrap();
        assert_eq!(m.format, MrzFormat::Td1);
        assert_eq!(m.document_code, "I");
        assert_eq!(m.issuing_state, "UTO");
        assert_eq!(m.document_number, "D23145890");
        assert_eq!(m.nationality, "UTO");
        assert_eq!(m.birth_date, date(74, 8, 12));
        assert_eq!(m.sex, 'F');
        assert_eq!(m.expiry_date, date(12, 4, 15));
        assert_eq!(m.family_name, "ERIKSSON");
        assert_eq!(m.given_names, ["ANNA", "MARIA"]);
        assert_eq!(m.optional_data, "");
    }

    #[test]
    fn td1_long_document_number() {
        // ICAO 9303 part 5's own example of a 12-character number.
        let line1 = "I<UTOD23145890<7349<<<<<<<<<<<";
        let line2_body = "7408122F1204159UTO<<<<<<<<<<<";
        let composite = format!(
            "{}{}{}{}",
            &line1[5..30],
            &line2_body[0..7],
            &line2_body[8..15],
            &line2_body[18..29]
        );
        let line2 = format!("{line2_body}{}", check_digit(&composite).unwrap());
        let m = parse_td1(line1, &line2, TD1[2]).unwrap();
        assert_eq!(m.document_number, "D23145890734");
        assert_eq!(m.optional_data, "");

        let bad = with(line1, 18, '8');
        let e = parse_td1(&bad, &line2, TD1[2]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "mrz line 1: document number check digit is '8' but D23145890734 gives '9'; re-read the document"
        );

        let e = parse_td1("I<UTOD23145890<<<<<<<<<<<<<<<<", &line2, TD1[2]).unwrap_err();
        assert_eq!(e.kind, MrzErrorKind::DocumentNumber);
        assert_eq!(e.location(), "mrz line 1: document number");
    }

    #[test]
    fn refusals_name_field_and_remedy() {
        let l2 = TD3[1];
        let cases: Vec<(String, String, &str)> = vec![
            (
                TD3[0].into(),
                with(l2, 19, '3'),
                "mrz line 2: date of birth check digit is '3' but 740812 gives '2'; re-read the document",
            ),
            (
                TD3[0].into(),
                with(l2, 9, '5'),
                "mrz line 2: document number check digit is '5' but L898902C3 gives '6'; re-read the document",
            ),
            (
                TD3[0].into(),
                with(l2, 27, '8'),
                "mrz line 2: date of expiry check digit is '8' but 120415 gives '9'; re-read the document",
            ),
            (
                TD3[0].into(),
                with(l2, 42, '2'),
                "mrz line 2: optional data check digit is '2' but ZE184226B<<<<< gives '1'; re-read the document",
            ),
            (
                TD3[0].into(),
                with(l2, 43, '1'),
                "mrz line 2: composite check digit is '1' but the document number, dates and optional data give '0'; re-read the document",
            ),
            (
                TD3[0].into(),
                with(l2, 20, 'Q'),
                "mrz line 2: sex is 'Q'; an MRZ has F, M or < (unspecified); re-read the document",
            ),
            (
                with(TD3[0], 2, 'Z'),
                l2.into(),
                "mrz line 1: issuing state 'ZTO' is not an ICAO 9303 code (ISO 3166-1 alpha-3, or a special such as D<<, XXA, UNO); re-read the document",
            ),
            (
                with(TD3[0], 0, 'I'),
                l2.into(),
                "mrz line 1: document code is 'I<'; a passport (TD3) document code starts with P; check the MRZ format and re-read the document",
            ),
            (
                TD3[0].into(),
                with(l2, 5, 'x'),
                "mrz line 2 has 'x' at position 6; an MRZ holds only A-Z, 0-9 and '<'; re-read the document",
            ),
            (
                TD3[0].into(),
                l2[..43].into(),
                "mrz line 2 is 43 characters long; a passport (TD3) MRZ has 2 lines of 44 characters; send the line exactly as read",
            ),
            (
                format!("P<UTO<<ANNA{}", "<".repeat(33)),
                l2.into(),
                "mrz line 1: name has no family name (primary identifier) before '<<'; the name field reads FAMILY<<GIVEN<NAMES; re-read the document",
            ),
        ];
        for (a, b, expected) in cases {
            assert_eq!(parse_td3(&a, &b).unwrap_err().to_string(), expected);
        }
        let e = parse_mrz(&[TD3[0]]).unwrap_err();
        assert_eq!(e.kind, MrzErrorKind::LineCount);
        assert!(e.to_string().starts_with("mrz has 1 line; "), "{e}");
        let e = parse_mrz::<&str>(&[]).unwrap_err();
        assert!(e.to_string().starts_with("mrz has 0 lines; "), "{e}");
        // Multi-byte characters: counted as characters, never sliced.
        let e = parse_td3(TD3[0], &format!("É{}", &l2[2..])).unwrap_err();
        assert_eq!(e.kind, MrzErrorKind::LineLength);
        let e = parse_td3(TD3[0], &format!("É{}", &l2[1..])).unwrap_err();
        assert_eq!(e.kind, MrzErrorKind::Character);
    }

    /// A TD3 line 2 with the given birth date and all check digits right.
    fn td3_with_birth(birth: &str) -> String {
        let parts = MrzParts {
            document_code: "P",
            issuing_state: "UTO",
            document_number: "L898902C3",
            nationality: "UTO",
            birth_date: date(74, 8, 12),
            sex: 'F',
            expiry_date: date(12, 4, 15),
            family_name: "ERIKSSON",
            given_names: &["ANNA"],
            optional_data: "",
            optional_data_2: "",
        };
        let [_, l2] = build_td3(&parts).unwrap();
        let mut l2 = format!(
            "{}{birth}{}{}",
            &l2[..13],
            check_digit(birth).unwrap(),
            &l2[20..43]
        );
        let composite = format!("{}{}{}", &l2[0..10], &l2[13..20], &l2[21..43]);
        l2.push(check_digit(&composite).unwrap());
        l2
    }

    #[test]
    fn dates_are_checked() {
        let e = parse_td3(TD3[0], &td3_with_birth("741312")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "mrz line 2: date of birth '741312' has month 13; months are 01-12, or << when unknown; re-read the document"
        );
        let e = parse_td3(TD3[0], &td3_with_birth("740231")).unwrap_err();
        assert!(
            e.to_string()
                .contains("has day 31, which month 02 never has"),
            "{e}"
        );
        let e = parse_td3(TD3[0], &td3_with_birth("74<<12")).unwrap_err();
        assert!(
            e.to_string()
                .contains("has a day but an unknown (<<) month"),
            "{e}"
        );
        let e = parse_td3(TD3[0], &td3_with_birth("<<0812")).unwrap_err();
        assert!(e.to_string().contains("unknown (<<) year"), "{e}");
        let e = parse_td3(TD3[0], &td3_with_birth("74AB12")).unwrap_err();
        assert!(e.to_string().contains("is not YYMMDD"), "{e}");

        let m = parse_td3(TD3[0], &td3_with_birth("7408<<")).unwrap();
        assert_eq!(
            m.birth_date,
            MrzDate {
                yy: 74,
                month: Some(8),
                day: None
            }
        );
        let m = parse_td3(TD3[0], &td3_with_birth("74<<<<")).unwrap();
        assert_eq!(
            m.birth_date,
            MrzDate {
                yy: 74,
                month: None,
                day: None
            }
        );
    }

    #[test]
    fn birth_century_is_inferred() {
        let at = crate::dates::start_of_day_unix(2026, 11, 21);
        let m = parse_mrz(&TD3).unwrap();
        assert_eq!(
            m.birth_date_at(at).unwrap(),
            PartialDate {
                year: 1974,
                month: Some(8),
                day: Some(12)
            }
        );

        let m = parse_td3(TD3[0], &td3_with_birth("261121")).unwrap();
        assert_eq!(m.birth_date_at(at).unwrap().year, 2026, "born today");
        let m = parse_td3(TD3[0], &td3_with_birth("261122")).unwrap();
        assert_eq!(
            m.birth_date_at(at).unwrap().year,
            1926,
            "never in the future"
        );
        let m = parse_td3(TD3[0], &td3_with_birth("27<<<<")).unwrap();
        assert_eq!(m.birth_date_at(at).unwrap().year, 1927);
        let m = parse_td3(TD3[0], &td3_with_birth("2611<<")).unwrap();
        assert_eq!(m.birth_date_at(at).unwrap().year, 2026);
        let m = parse_td3(TD3[0], &td3_with_birth("000229")).unwrap();
        assert_eq!(m.birth_date_at(at).unwrap().year, 2000);
        let m = parse_td3(TD3[0], &td3_with_birth("270229")).unwrap();
        let e = m.birth_date_at(at).unwrap_err();
        assert_eq!(
            e.to_string(),
            "mrz line 2: date of birth 270229 would be 29 February 1927, which did not exist; re-read the document"
        );
    }

    #[test]
    fn name_fields() {
        assert_eq!(
            mrz_name_field("Eriksson", &["Anna", "Maria"], 39),
            "ERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<"
        );
        assert_eq!(
            mrz_name_field("VAN DER BERG", &["JAN-PIETER"], 30),
            "VAN<DER<BERG<<JAN<PIETER<<<<<<"
        );
        assert_eq!(mrz_name_field("O'BRIEN", &[], 10), "OBRIEN<<<<");
        assert_eq!(mrz_name_field("A  -  B", &["", "C"], 10), "A<B<<C<<<<");
        assert_eq!(
            mrz_name_field("WOLFESCHLEGELSTEINHAUSENBERGERDORFF", &["HUBERT"], 30),
            &"WOLFESCHLEGELSTEINHAUSENBERGERDORFF"[..30]
        );
        let (family, given, truncated) = parse_name(3, "VAN<DER<BERG<<JAN<PIETER<<<<<<").unwrap();
        assert_eq!(family, "VAN DER BERG");
        assert_eq!(given, ["JAN", "PIETER"]);
        assert!(!truncated);
        let (family, given, truncated) = parse_name(3, "WOLFESCHLEGELSTEINHAUSENBERGE").unwrap();
        assert_eq!(
            (family.as_str(), given.len(), truncated),
            ("WOLFESCHLEGELSTEINHAUSENBERGE", 0, true)
        );
    }

    #[test]
    fn builders_reproduce_the_specimens() {
        let td3 = parse_mrz(&TD3).unwrap();
        let given: Vec<&str> = td3.given_names.iter().map(String::as_str).collect();
        assert_eq!(build_td3(&td3.to_parts(&given)).unwrap(), TD3);
        let td1 = parse_mrz(&TD1).unwrap();
        assert_eq!(build_td1(&td1.to_parts(&given)).unwrap(), TD1);
    }

    #[test]
    fn builders_round_trip() {
        let parts = MrzParts {
            document_code: "AC",
            issuing_state: "D",
            document_number: "X1234567890ABC",
            nationality: "XXA",
            birth_date: MrzDate {
                yy: 5,
                month: Some(2),
                day: None,
            },
            sex: '<',
            expiry_date: date(31, 12, 31),
            family_name: "VAN DER-BERG",
            given_names: &["HANS", "PETER"],
            optional_data: "AB1",
            optional_data_2: "XYZ",
        };
        let lines = build_td1(&parts).unwrap();
        assert!(lines.iter().all(|l| l.len() == 30), "{lines:?}");
        let m = parse_mrz(&lines).unwrap();
        assert_eq!(m.document_code, "AC");
        assert_eq!(m.issuing_state, "D");
        assert_eq!(m.document_number, "X1234567890ABC");
        assert_eq!(m.nationality, "XXA");
        assert_eq!(m.birth_date, parts.birth_date);
        assert_eq!(m.sex, '<');
        assert_eq!(m.family_name, "VAN DER BERG");
        assert_eq!(m.given_names, ["HANS", "PETER"]);
        assert_eq!(m.optional_data, "AB1");
        assert_eq!(m.optional_data_2, "XYZ");

        let td3 = MrzParts {
            document_code: "PD",
            document_number: "C01X00T47",
            optional_data: "",
            optional_data_2: "",
            ..parts
        };
        let lines = build_td3(&td3).unwrap();
        assert!(lines.iter().all(|l| l.len() == 44), "{lines:?}");
        let m = parse_mrz(&lines).unwrap();
        assert_eq!(m.document_code, "PD");
        assert_eq!(m.document_number, "C01X00T47");
        assert_eq!(m.optional_data, "");
    }

    #[test]
    fn builders_refuse_bad_parts() {
        let td1 = parse_mrz(&TD1).unwrap();
        let given = ["ANNA"];
        let base = td1.to_parts(&given);
        let err = |p: MrzParts<'_>, td3: bool| {
            if td3 {
                build_td3(&p).unwrap_err().field
            } else {
                build_td1(&p).unwrap_err().field
            }
        };
        assert_eq!(err(base, true), "document_code");
        assert_eq!(
            err(
                MrzParts {
                    nationality: "ZZZ",
                    ..base
                },
                false
            ),
            "nationality"
        );
        assert_eq!(
            err(
                MrzParts {
                    document_number: "abc",
                    ..base
                },
                false
            ),
            "document_number"
        );
        assert_eq!(
            err(
                MrzParts {
                    document_code: "P",
                    document_number: "1234567890",
                    ..base
                },
                true
            ),
            "document_number"
        );
        assert_eq!(
            err(
                MrzParts {
                    document_number: "ABCDEFGHIJKLMNOPQRSTUVW",
                    ..base
                },
                false
            ),
            "document_number"
        );
        assert_eq!(
            err(
                MrzParts {
                    document_number: "ABCDEFGHIJKL",
                    optional_data: "1234567890123",
                    ..base
                },
                false
            ),
            "optional_data"
        );
        assert_eq!(
            err(
                MrzParts {
                    family_name: "Müller",
                    ..base
                },
                false
            ),
            "family_name"
        );
        assert_eq!(
            err(
                MrzParts {
                    given_names: &["anna"],
                    ..base
                },
                false
            ),
            "given_names"
        );
        assert_eq!(err(MrzParts { sex: 'Q', ..base }, false), "sex");
        assert_eq!(
            err(
                MrzParts {
                    birth_date: date(74, 13, 1),
                    ..base
                },
                false
            ),
            "birth_date"
        );
        assert_eq!(
            err(
                MrzParts {
                    optional_data_2: "123456789012",
                    ..base
                },
                false
            ),
            "optional_data_2"
        );
        let e = build_td1(&MrzParts {
            document_number: "ABCDEFGHIJKL",
            optional_data: "1234567890123",
            ..base
        })
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot build the MRZ: optional_data does not fit"),
            "{e}"
        );
    }
}
