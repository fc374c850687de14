//! The noise a true pair can show, one kind at a time: the pair must share a
//! blocking key and score at least 0.8. Different people who share a birth
//! date and have similar names must score below 0.6.

use super::*;

const TRUE_PAIR_MIN: f64 = 0.8;
const DIFFERENT_PEOPLE_MAX: f64 = 0.6;

struct Rec {
    given: &'static str,
    middle: &'static str,
    family: &'static str,
    dob: (u16, Option<u8>, Option<u8>),
    sex: Sex,
    nationality: &'static str,
    document: &'static str,
    country: &'static str,
}

impl Rec {
    fn build(&self) -> SharedRecord {
        SharedRecord {
            given_names: self.given.to_string(),
            family_name: self.family.to_string(),
            middle_names: self.middle.to_string(),
            date_of_birth: PartialDate {
                year: self.dob.0,
                month: self.dob.1,
                day: self.dob.2,
            },
            nationality: self.nationality.to_string(),
            sex: self.sex,
            document_type: "P".to_string(),
            document_number: self.document.to_string(),
            document_country: self.country.to_string(),
            entered_at: 1_700_000_000,
            port_code: "0427".to_string(),
        }
    }
}

/// Our entry record, as a Canadian source typed it.
fn entry() -> Rec {
    Rec {
        given: "Hans",
        middle: "Peter",
        family: "Müller",
        dob: (1980, Some(3), Some(7)),
        sex: Sex::Male,
        nationality: "DEU",
        document: "C01X00T47",
        country: "DEU",
    }
}

/// The partner's record of the same traveller, read from the passport MRZ.
fn exit() -> Rec {
    Rec {
        given: "HANS",
        middle: "PETER",
        family: "MUELLER",
        dob: (1980, Some(3), Some(7)),
        sex: Sex::Male,
        nationality: "D",
        document: "C01X00T47",
        country: "D",
    }
}

fn keys(r: &Rec) -> Vec<String> {
    block_keys(&Prepared::new(&r.build()))
}

fn shares_key(a: &Rec, b: &Rec) -> bool {
    let kb = keys(b);
    keys(a).iter().any(|k| kb.contains(k))
}

fn pair_score(a: &Rec, b: &Rec) -> f64 {
    score(&a.build(), &b.build())
}

fn comparison(a: &Rec, b: &Rec) -> Comparison {
    compare(&Prepared::new(&a.build()), &Prepared::new(&b.build()))
}

/// A true pair with one kind of noise: shares a key even without the
/// document (so the name and birth-date keys alone carry it), and scores
/// high with the document.
fn assert_true_pair(noisy: Rec, what: &str) {
    let e = entry();
    let renewed = Rec {
        document: "ZZ9999999",
        ..noisy
    };
    assert!(
        shares_key(&e, &renewed),
        "{what}: no shared key besides the document: {:?} / {:?}",
        keys(&e),
        keys(&renewed)
    );
    let s = pair_score(&e, &noisy);
    assert!(
        s >= TRUE_PAIR_MIN,
        "{what}: score {s} with {:?}",
        comparison(&e, &noisy)
    );
    // Scoring does not depend on which side is the entry.
    assert!(
        (pair_score(&noisy, &e) - s).abs() < 1e-12,
        "{what}: asymmetric"
    );
}

fn assert_different_people(a: Rec, b: Rec, what: &str) {
    let s = pair_score(&a, &b);
    assert!(
        s < DIFFERENT_PEOPLE_MAX,
        "{what}: score {s} with {:?}",
        comparison(&a, &b)
    );
}

#[test]
fn clean_pair() {
    let c = comparison(&entry(), &exit());
    assert_eq!(c.names, NameLevel::Variant);
    assert_eq!(c.middle, MiddleLevel::Agree);
    assert_eq!(c.dob, DobLevel::Exact);
    assert_eq!(c.document, DocumentLevel::Same);
    assert_eq!(c.nationality, NationalityLevel::Same);
    assert_eq!(c.sex, Agreement::Same);
    assert_true_pair(exit(), "clean");
    assert!(pair_score(&entry(), &exit()) > 0.999);
    let same = entry();
    assert_eq!(comparison(&same, &entry()).names, NameLevel::Exact);
}

#[test]
fn typo_in_family_name() {
    // Slips of the fingers (a letter dropped or doubled, two swapped, a
    // neighbouring key) are the Typo level...
    for family in ["MUELER", "MUELLRE", "MEULLER", "MUELLET", "MYELLER"] {
        assert_true_pair(Rec { family, ..exit() }, family);
        assert_eq!(
            comparison(&entry(), &Rec { family, ..exit() }).names,
            NameLevel::Typo,
            "{family}"
        );
    }
    // ...other single edits only Close, which the same document and birth
    // date still carry.
    for family in ["MUELLEP", "XUELLER"] {
        assert_true_pair(Rec { family, ..exit() }, family);
        assert_eq!(
            comparison(&entry(), &Rec { family, ..exit() }).names,
            NameLevel::Close,
            "{family}"
        );
    }
}

#[test]
fn typo_in_given_name() {
    // Short names too: HANS/HANZ is only 0.88 by Jaro-Winkler.
    for given in ["HANA", "HNAS", "HAS", "HANSS", "JANS"] {
        assert_true_pair(Rec { given, ..exit() }, given);
        assert_eq!(
            comparison(&entry(), &Rec { given, ..exit() }).names,
            NameLevel::Typo,
            "{given}"
        );
    }
    assert_true_pair(
        Rec {
            given: "HANZ",
            ..exit()
        },
        "HANZ",
    );
}

#[test]
fn transliteration_variants() {
    for family in ["MUELLER", "MULLER", "Müller", "Mu\u{0308}ller", "müller"] {
        assert_true_pair(Rec { family, ..exit() }, family);
        let level = comparison(&entry(), &Rec { family, ..exit() }).names;
        assert!(
            matches!(level, NameLevel::Exact | NameLevel::Variant),
            "{family}: {level:?}"
        );
    }
    // Both sides folded differently before they reached us.
    let mrz = Rec {
        family: "MUELLER",
        ..entry()
    };
    let generic = Rec {
        family: "MULLER",
        ..exit()
    };
    assert_eq!(comparison(&mrz, &generic).names, NameLevel::Variant);
    assert!(shares_key(
        &mrz,
        &Rec {
            document: "X",
            ..generic
        }
    ));
    assert!(pair_score(&mrz, &generic) >= TRUE_PAIR_MIN);

    let a = Rec {
        given: "Jörg",
        family: "Ødegård",
        ..entry()
    };
    let b = Rec {
        given: "JOERG",
        family: "OEDEGAARD",
        ..exit()
    };
    let c = Rec {
        given: "JORG",
        family: "ODEGARD",
        ..exit()
    };
    for (x, y) in [(&a, &b), (&a, &c), (&b, &c)] {
        assert_eq!(comparison(x, y).names, NameLevel::Variant);
        assert!(shares_key(
            x,
            &Rec {
                document: "X",
                ..*y
            }
        ));
    }
}

#[test]
fn given_and_family_names_swapped() {
    let swapped = Rec {
        given: "MUELLER",
        family: "HANS",
        ..exit()
    };
    assert_eq!(comparison(&entry(), &swapped).names, NameLevel::Swapped);
    assert_true_pair(swapped, "swapped");
}

#[test]
fn missing_middle_names() {
    let none = Rec {
        middle: "",
        ..exit()
    };
    assert_eq!(comparison(&entry(), &none).middle, MiddleLevel::Missing);
    assert_true_pair(none, "no middle name");
    // Middle names carried in the given-names field by one source.
    let in_given = Rec {
        given: "HANS PETER",
        middle: "",
        ..exit()
    };
    assert_eq!(comparison(&entry(), &in_given).middle, MiddleLevel::Agree);
    assert_true_pair(in_given, "middle name in given names");
    // An initial only.
    let initial = Rec {
        middle: "P.",
        ..exit()
    };
    assert_eq!(comparison(&entry(), &initial).middle, MiddleLevel::Agree);
    assert_true_pair(initial, "middle initial");
}

#[test]
fn day_and_month_swapped() {
    let swapped = Rec {
        dob: (1980, Some(7), Some(3)),
        ..exit()
    };
    assert_eq!(comparison(&entry(), &swapped).dob, DobLevel::DayMonthSwap);
    assert_true_pair(swapped, "day/month swap");
}

#[test]
fn renewed_document() {
    let renewed = Rec {
        document: "C02Y11Z58",
        ..exit()
    };
    assert_eq!(
        comparison(&entry(), &renewed).document,
        DocumentLevel::Renewed
    );
    assert_true_pair(renewed, "renewal");

    // A renewal and a typo in one name: the combination heavy noise makes
    // most often after single kinds.
    for family in ["MEULLER", "MUELER", "MUELLEER"] {
        let noisy = Rec {
            family,
            document: "C02Y11Z58",
            ..exit()
        };
        assert_eq!(
            comparison(&entry(), &noisy).names,
            NameLevel::Typo,
            "{family}"
        );
        assert!(pair_score(&entry(), &noisy) >= TRUE_PAIR_MIN, "{family}");
    }

    // A number misread by one character is still the same document.
    let misread = Rec {
        document: "C01X00T41",
        ..exit()
    };
    assert_eq!(
        comparison(&entry(), &misread).document,
        DocumentLevel::Similar
    );
    assert_true_pair(misread, "misread document number");

    // A residence card at one border, the passport at the other.
    let card = Rec {
        document: "PA1301466",
        country: "CAN",
        ..exit()
    };
    assert_eq!(
        comparison(&entry(), &card).document,
        DocumentLevel::OtherCountry
    );
    assert_true_pair(card, "another document");
}

/// A dual national leaves on his second passport: another country's
/// document and, as often as not, that country as his nationality. The
/// two differences are one fact, counted once: by the nationality
/// comparison, the documents' numbers being incomparable (a null).
#[test]
fn a_second_passport_is_counted_once() {
    let second = Rec {
        document: "U12345678",
        country: "TUR",
        nationality: "TUR",
        ..exit()
    };
    let c = comparison(&entry(), &second);
    assert_eq!(
        (c.document, c.nationality),
        (
            DocumentLevel::OtherCountry,
            NationalityLevel::DifferentOtherDocument
        )
    );
    assert_eq!(c.document.weight(), 0.0);
    assert_true_pair(second, "a second passport");
    let same_nationality = Rec {
        document: "U12345678",
        country: "TUR",
        ..exit()
    };
    assert_eq!(
        comparison(&entry(), &same_nationality).nationality,
        NationalityLevel::SameOtherDocument
    );
    // Another nationality on a document of the same country: a slip or a
    // status code, not a second passport.
    let slip = Rec {
        nationality: "AUT",
        ..exit()
    };
    assert_eq!(
        comparison(&entry(), &slip).nationality,
        NationalityLevel::Different
    );
}

#[test]
fn romanisations_sound_alike() {
    let entry = Rec {
        given: "Mohammed",
        family: "Khan",
        middle: "",
        nationality: "PAK",
        document: "AB1234567",
        country: "PAK",
        ..entry()
    };
    let exit = Rec {
        given: "MUHAMMAD",
        family: "KHAN",
        middle: "",
        nationality: "PAK",
        document: "AB1234567",
        country: "PAK",
        ..exit()
    };
    assert_eq!(comparison(&entry, &exit).names, NameLevel::Phonetic);
    assert!(pair_score(&entry, &exit) >= TRUE_PAIR_MIN);
    let renewed = Rec {
        document: "AC7654321",
        ..exit
    };
    assert!(pair_score(&entry, &renewed) >= TRUE_PAIR_MIN);
}

#[test]
fn short_names_with_a_slip_and_the_same_document() {
    for (given, family, given2, family2) in [
        ("HA", "LEE", "HA", "ELE"),
        ("LOURDES", "LIM", "LOURDES", "LIN"),
        ("WEI", "WU", "WSI", "WU"),
    ] {
        let a = Rec {
            given,
            family,
            middle: "",
            ..entry()
        };
        let b = Rec {
            given: given2,
            family: family2,
            middle: "",
            ..exit()
        };
        assert_eq!(comparison(&a, &b).names, NameLevel::Typo, "{family2}");
        assert!(pair_score(&a, &b) >= TRUE_PAIR_MIN, "{family2}");
    }
    // Beyond a slip, the same document and birth date still carry the pair.
    let a = Rec {
        given: "KARIN",
        family: "Groß",
        middle: "",
        ..entry()
    };
    let b = Rec {
        given: "KARIN",
        family: "GRSSO",
        middle: "",
        ..exit()
    };
    assert_ne!(comparison(&a, &b).names, NameLevel::Different);
    assert!(pair_score(&a, &b) >= TRUE_PAIR_MIN);
    // One name different altogether: only the document and birth date
    // carry the pair.
    let c = Rec {
        family: "WEBER",
        ..b
    };
    assert_eq!(comparison(&a, &c).names, NameLevel::Partial);
    assert!(pair_score(&a, &c) >= TRUE_PAIR_MIN);
}

#[test]
fn unknown_birth_date_parts() {
    for dob in [
        (1980, Some(3), None),
        (1980, None, None),
        // Not allowed by the WIT, but must not trap.
        (1980, None, Some(7)),
        (1980, Some(0), Some(0)),
        (1980, Some(13), Some(40)),
        (0, Some(255), Some(255)),
        (u16::MAX, Some(12), Some(31)),
    ] {
        let a = Rec { dob, ..entry() };
        let b = Rec { dob, ..exit() };
        let ka = keys(&a);
        assert!(!ka.is_empty());
        for k in ka.iter().filter(|k| k.starts_with('B')) {
            // B + YYYYMMDD + prefix: fixed width date.
            assert!(k.len() > 9, "{k}");
        }
        assert!(shares_key(&a, &Rec { document: "X", ..b }));
        let s = pair_score(&a, &b);
        assert!((0.0..=1.0).contains(&s));
    }
    let partial = Rec {
        dob: (1980, Some(3), None),
        ..entry()
    };
    assert!(keys(&partial).contains(&"B198003??MUE/H".to_string()));
    assert_eq!(
        comparison(
            &partial,
            &Rec {
                dob: (1980, Some(3), None),
                ..exit()
            }
        )
        .dob,
        DobLevel::PartialEqual
    );
    assert_eq!(comparison(&partial, &exit()).dob, DobLevel::YearOnly);
    // Same unknowns on both sides and a renewed document: still a link.
    let renewed = Rec {
        dob: (1980, Some(3), None),
        document: "C02Y11Z58",
        ..exit()
    };
    assert!(pair_score(&partial, &renewed) >= TRUE_PAIR_MIN);
}

#[test]
fn a_document_number_misread_by_ocr_still_shares_a_key() {
    let misread = Rec {
        document: "CO1XOOT47",
        dob: (1980, Some(3), Some(8)),
        ..exit()
    };
    let (a, b) = (keys(&entry()), keys(&misread));
    assert!(
        a.iter().any(|k| k.starts_with('O') && b.contains(k)),
        "{a:?}\n{b:?}"
    );
    // And a wrong day with a renewed document meets through the year.
    let renewed = Rec {
        document: "K77Q11Z02",
        dob: (1980, Some(3), Some(8)),
        ..exit()
    };
    let b = keys(&renewed);
    assert!(
        a.iter().any(|k| k.starts_with('Y') && b.contains(k)),
        "{a:?}\n{b:?}"
    );
    // And a year off by ten with a renewed document, through day and month.
    let renewed = Rec {
        document: "K77Q11Z02",
        dob: (1990, Some(3), Some(7)),
        ..exit()
    };
    let b = keys(&renewed);
    assert!(
        a.iter().any(|k| k.starts_with('M') && b.contains(k)),
        "{a:?}\n{b:?}"
    );
}

#[test]
fn keys_are_short_distinct_and_cover_every_form() {
    let k = keys(&entry());
    assert_eq!(
        k,
        [
            "DDEU:C01X00T47",
            "ODEU:C01X00T47",
            "Y1980MUE/H",
            "Y1980MUL/H",
            "M0307MUE/H",
            "M0307MUL/H",
            "B19800307MUE/H",
            "B19800307MUE/S",
            "B19800307MUL/H",
            "B19800307MUL/S",
            "B19800307HAN/M",
            "B19800307HAN/R",
            "B19800703MUE/H",
            "B19800703MUE/S",
            "B19800703MUL/H",
            "B19800703MUL/S",
            "B19800703HAN/M",
            "B19800703HAN/R",
        ]
    );
    // No swapped date when day and month cannot be exchanged.
    let k = keys(&Rec {
        dob: (1980, Some(3), Some(13)),
        ..entry()
    });
    assert_eq!(k.iter().filter(|k| k.starts_with('B')).count(), 6);
    let k = keys(&Rec {
        dob: (1980, Some(3), Some(3)),
        ..entry()
    });
    assert_eq!(k.iter().filter(|k| k.starts_with('B')).count(), 6);
    // A short name is not blocked on by its letters.
    let k = keys(&Rec {
        family: "LEE",
        ..entry()
    });
    assert!(k.contains(&"B19800307HAN/*".to_string()), "{k:?}");
}

#[test]
fn odd_records_do_not_trap() {
    let odd = [
        Rec {
            given: "",
            middle: "",
            family: "",
            document: "",
            country: "",
            nationality: "",
            sex: Sex::Unspecified,
            dob: (0, None, None),
        },
        Rec {
            given: "Иван",
            family: "Петров",
            middle: "",
            ..entry()
        },
        Rec {
            given: "",
            family: "LI",
            middle: "X",
            document: "1",
            ..entry()
        },
        Rec {
            given: "'-'",
            family: "<<",
            ..entry()
        },
    ];
    for a in &odd {
        let _ = keys(a);
        for b in &odd {
            let s = pair_score(a, b);
            assert!((0.0..=1.0).contains(&s), "{s}");
        }
        let s = pair_score(a, &entry());
        assert!((0.0..=1.0).contains(&s));
    }
    // A short document number is not keyed on; a non-Latin name yields no
    // name keys but the document still brings the pair together.
    assert!(keys(&odd[2]).iter().all(|k| !k.starts_with(['D', 'O'])));
    assert_eq!(keys(&odd[1]), ["DDEU:C01X00T47", "ODEU:C01X00T47"]);
}

#[test]
fn mononym_split_differently() {
    let a = Rec {
        given: "",
        middle: "",
        family: "SITI AMINAH",
        ..entry()
    };
    let b = Rec {
        given: "SITI",
        middle: "",
        family: "AMINAH",
        ..exit()
    };
    assert_eq!(comparison(&a, &b).names, NameLevel::Variant);
    assert!(shares_key(&a, &Rec { document: "X", ..b }));
    assert!(pair_score(&a, &b) >= TRUE_PAIR_MIN);
}

#[test]
fn compound_family_names() {
    let a = Rec {
        given: "María",
        middle: "",
        family: "García López",
        ..entry()
    };
    let b = Rec {
        given: "MARIA",
        middle: "",
        family: "GARCIA",
        ..exit()
    };
    assert_eq!(comparison(&a, &b).names, NameLevel::Variant);
    assert!(pair_score(&a, &b) >= TRUE_PAIR_MIN);
}

#[test]
fn twins_are_different_people() {
    let hans = Rec {
        middle: "",
        ..entry()
    };
    let karl = Rec {
        given: "KARL",
        middle: "",
        document: "C77Q55R21",
        ..exit()
    };
    assert_different_people(hans, karl, "twin brothers");

    let maria = Rec {
        given: "Maria",
        middle: "",
        sex: Sex::Female,
        ..entry()
    };
    let marta = Rec {
        given: "MARTA",
        middle: "",
        sex: Sex::Female,
        document: "C77Q55R21",
        ..exit()
    };
    assert_different_people(maria, marta, "twin sisters with similar names");

    let anna = Rec {
        given: "Anna",
        middle: "",
        sex: Sex::Female,
        ..entry()
    };
    let emma = Rec {
        given: "EMMA",
        middle: "",
        sex: Sex::Female,
        document: "C77Q55R21",
        ..exit()
    };
    assert_different_people(anna, emma, "twin sisters");

    let hannes = Rec {
        given: "HANNES",
        middle: "",
        document: "C77Q55R21",
        ..exit()
    };
    assert_different_people(entry(), hannes, "HANS / HANNES");
}

#[test]
fn similar_names_same_birth_date_are_different_people() {
    let john = Rec {
        given: "John",
        middle: "",
        family: "Miller",
        nationality: "GBR",
        document: "123456789",
        country: "GBR",
        ..entry()
    };
    let jon = Rec {
        given: "JON",
        middle: "",
        family: "MILLAR",
        nationality: "GBR",
        document: "987654321",
        country: "GBR",
        ..exit()
    };
    assert_eq!(comparison(&john, &jon).names, NameLevel::TwoTypos);
    assert_different_people(john, jon, "JOHN MILLER / JON MILLAR");

    // MULLER and MILLER are one slip apart: with the same given name, birth
    // date, nationality and a passport of the same country, they look
    // exactly like a typo plus a renewal, which is far more common, so the
    // pair is linked if nothing better comes; when both travelled, each exit
    // scores higher with its own entry and the one-to-one assignment keeps
    // them apart (tests/it/reconcile.rs).
    let muller = Rec {
        given: "JOHN",
        family: "MULLER",
        middle: "",
        document: "C77Q55R21",
        ..exit()
    };
    let miller = Rec {
        given: "JOHN",
        family: "MILLER",
        middle: "",
        ..exit()
    };
    assert_eq!(comparison(&muller, &miller).names, NameLevel::Typo);
    assert!(pair_score(&muller, &miller) < pair_score(&miller, &miller));
    assert!(pair_score(&muller, &miller) < pair_score(&muller, &muller));
    // With a middle name each, the namesakes part.
    assert_different_people(
        Rec {
            middle: "PAUL",
            ..muller
        },
        Rec {
            middle: "ERIC",
            ..miller
        },
        "JOHN PAUL MULLER / JOHN ERIC MILLER",
    );

    let joan = Rec {
        given: "JOAN",
        sex: Sex::Female,
        middle: "",
        document: "C77Q55R21",
        ..exit()
    };
    let john = Rec {
        given: "JOHN",
        middle: "",
        ..exit()
    };
    assert_different_people(joan, john, "JOHN / JOAN");

    // Same names, different middle names and documents, other nationality.
    let other = Rec {
        middle: "KLAUS",
        nationality: "AUT",
        document: "P4455667",
        country: "AUT",
        ..exit()
    };
    assert_different_people(entry(), other, "namesake");
}

#[test]
fn weights_order_levels() {
    let names = [
        NameLevel::Exact,
        NameLevel::Variant,
        NameLevel::Swapped,
        NameLevel::Typo,
        NameLevel::TwoTypos,
        NameLevel::Different,
    ];
    assert!(names.windows(2).all(|w| w[0].weight() > w[1].weight()));
    let dobs = [
        DobLevel::Exact,
        DobLevel::DayMonthSwap,
        DobLevel::YearOnly,
        DobLevel::Different,
    ];
    assert!(dobs.windows(2).all(|w| w[0].weight() > w[1].weight()));
    assert!(probability(1000.0) <= 1.0 && probability(-1000.0) >= 0.0);
    assert!((probability(-PRIOR_LOG2_ODDS) - 0.5).abs() < 1e-12);
}

#[test]
fn config_accepts_only_empty_table_or_a_model() {
    assert_eq!(parse_config("{}"), Ok(()));
    let err = parse_config(r#"{"threshold": 0.9}"#).unwrap_err();
    assert!(err.contains(r#"unknown key "threshold""#), "{err}");
    assert!(parse_config("[]").unwrap_err().contains("must be a table"));
    assert!(parse_config("nope").unwrap_err().contains("not valid JSON"));
}

#[test]
fn similarity_agrees_with_strsim() {
    let names = [
        "",
        "A",
        "AB",
        "BA",
        "HANS",
        "HANZ",
        "HANNES",
        "MUELLER",
        "MULLER",
        "MEULLER",
        "MARIA",
        "MARTA",
        "JOHN",
        "JON",
        "MILLER",
        "MILLAR",
        "GARCIALOPEZ",
        "GARCIA",
        "CHEESEBURGER",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "ZYXWVUTSRQPONMLKJIHGFEDCBA",
    ];
    for a in names {
        for b in names {
            let ours = jaro_winkler(a, b);
            let theirs = strsim::jaro_winkler(a, b);
            assert!((ours - theirs).abs() < 1e-12, "{a} / {b}: {ours} {theirs}");
            assert_eq!(
                within_one_edit(a.as_bytes(), b.as_bytes()),
                strsim::osa_distance(a, b) <= 1,
                "{a} / {b}"
            );
        }
    }
}

/// A wholly unknown date of birth (the contract's `year: 0`) is a null: no
/// weight either way, no date key; its names meet other records with an
/// unknown date, its document any record.
#[test]
fn an_unknown_date_of_birth_is_no_evidence_and_names_still_find_the_record() {
    let unknown = Rec {
        dob: (0, None, None),
        ..exit()
    };
    assert_eq!(comparison(&entry(), &unknown).dob, DobLevel::Unknown);
    assert_eq!(comparison(&unknown, &entry()).dob, DobLevel::Unknown);
    assert_eq!(DobLevel::Unknown.weight(), 0.0);
    // Same names and passport: still a link.
    assert!(pair_score(&entry(), &unknown) >= TRUE_PAIR_MIN);
    // Its keys: the document and names alone, no date.
    let k = keys(&unknown);
    assert!(k.iter().all(|k| !k.starts_with('B')), "{k:?}");
    assert!(k.iter().any(|k| k.starts_with('D')), "{k:?}");
    let renewed = Rec {
        document: "Z99Z99Z99",
        ..unknown
    };
    let shared: Vec<String> = keys(&renewed)
        .into_iter()
        .filter(|k| keys(&unknown).contains(k))
        .collect();
    assert!(shared.iter().any(|k| k.starts_with('N')), "{shared:?}");
}

/// Dates one keying or reading slip apart: one digit, two adjacent digits
/// exchanged, the year off by one. Mild evidence for, not against.
#[test]
fn a_date_of_birth_one_slip_off_is_near_not_different() {
    for dob in [
        (1980, Some(3), Some(8)), // one digit
        (1908, Some(3), Some(7)), // 1980 → 1908: adjacent exchange
        (1981, Some(3), Some(7)), // the year off by one
        (1979, Some(3), Some(7)), // ... across a decade
        (1990, Some(3), Some(7)), // off by ten: one digit
    ] {
        let near = Rec { dob, ..exit() };
        assert_eq!(comparison(&entry(), &near).dob, DobLevel::Near, "{dob:?}");
    }
    let far = Rec {
        dob: (1962, Some(11), Some(21)),
        ..exit()
    };
    assert_eq!(comparison(&entry(), &far).dob, DobLevel::Different);
    assert!(DobLevel::Near.weight() > 0.0 && DobLevel::Near.weight() < DobLevel::Exact.weight());
}

mod trained {
    use super::*;
    use crate::model::{self, Estimate, Levels, SPECS, Tally, Weights};

    /// Every comparison vector the levels allow, for exhaustive checks.
    fn all_vectors() -> Vec<Levels> {
        let mut out = vec![[0u8; 6]];
        for (k, spec) in SPECS.iter().enumerate() {
            out = out
                .into_iter()
                .flat_map(|v| {
                    (0..spec.levels.len() as u8).map(move |l| {
                        let mut v = v;
                        v[k] = l;
                        v
                    })
                })
                .collect();
        }
        out
    }

    #[test]
    fn builtin_weights_are_the_hand_set_ones() {
        let other = Rec {
            family: "MULER",
            dob: (1980, Some(7), Some(3)),
            ..exit()
        };
        let c = comparison(&entry(), &other);
        let w = Weights::builtin();
        assert_eq!(w.weight(&c.levels()), c.weight());
        assert_eq!(w.probability(&c.levels()), probability(c.weight()));
        for (k, spec) in SPECS.iter().enumerate() {
            for &null in spec.nulls {
                assert_eq!(w.table[k][null], 0.0, "{}", spec.name);
            }
        }
    }

    /// Draws `n` pairs from a known model (independent comparisons, as
    /// Fellegi–Sunter assumes) and tallies them.
    fn draw(n: usize, lambda: f64, m: &[Vec<f64>; 6], u: &[Vec<f64>; 6], seed: u64) -> Tally {
        let mut state = seed;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut tally = Tally::default();
        for _ in 0..n {
            let p = if next() < lambda { m } else { u };
            let mut v = [0u8; 6];
            for k in 0..6 {
                let (mut x, mut l) = (next(), 0);
                while l + 1 < p[k].len() && x >= p[k][l] {
                    x -= p[k][l];
                    l += 1;
                }
                v[k] = l as u8;
            }
            tally.add(v);
        }
        tally
    }

    fn normalised(raw: &[f64]) -> Vec<f64> {
        let t: f64 = raw.iter().sum();
        raw.iter().map(|x| x / t).collect()
    }

    #[test]
    fn em_recovers_the_model_the_pairs_were_drawn_from() {
        let m: [Vec<f64>; 6] = [
            normalised(&[70., 8., 2., 3., 5., 3., 2., 3., 2., 2.]),
            normalised(&[30., 65., 5.]),
            normalised(&[85., 1., 3., 3., 4., 2., 2.]),
            normalised(&[70., 5., 10., 10., 5.]),
            normalised(&[90., 8., 2.]),
            normalised(&[95., 2., 3.]),
        ];
        let u: [Vec<f64>; 6] = [
            normalised(&[0.1, 0.1, 0.05, 0.5, 0.5, 3., 5., 10., 80., 1.]),
            normalised(&[5., 60., 35.]),
            normalised(&[2., 0.5, 0.5, 10., 2., 84., 1.]),
            normalised(&[0.01, 0.2, 40., 50., 9.79]),
            normalised(&[20., 78., 2.]),
            normalised(&[48., 48., 4.]),
        ];
        let candidates = draw(400_000, 0.2, &m, &u, 1);
        let random = draw(400_000, 0.0, &m, &u, 2);
        let e: Estimate = model::estimate(&candidates, &random, 200);
        assert!(
            e.converged,
            "EM did not converge in {} iterations",
            e.iterations
        );
        assert!((e.lambda - 0.2).abs() < 0.01, "lambda {}", e.lambda);
        for (k, (drawn, estimated)) in m.iter().zip(&e.m).enumerate() {
            for (l, (d, e)) in drawn.iter().zip(estimated).enumerate() {
                assert!(
                    (e - d).abs() < 0.02,
                    "{}.{}: m {d} estimated {e}",
                    SPECS[k].name,
                    SPECS[k].levels[l],
                );
            }
        }
    }

    #[test]
    fn a_model_round_trips_and_configures_the_matcher() {
        let mut candidates = Tally::default();
        let mut random = Tally::default();
        for v in all_vectors().iter().step_by(7) {
            candidates.add(*v);
            random.add(*v);
        }
        candidates.add([0, 0, 0, 0, 0, 0]);
        let e = model::estimate(&candidates, &random, 50);
        let model = e.model(serde_json::json!({"pairs": candidates.pairs}));
        let json = serde_json::to_string(&serde_json::json!({ "model": model })).unwrap();
        let weights = read_config(&json).unwrap().expect("a model");
        for (k, spec) in SPECS.iter().enumerate() {
            for &null in spec.nulls {
                assert_eq!(
                    weights.table[k][null], 0.0,
                    "{}: a null is no evidence",
                    spec.name
                );
            }
            for l in 0..spec.levels.len() {
                if !spec.is_null(l) {
                    let learned = (e.m[k][l] / e.u[k][l]).log2();
                    let w = weights.table[k][l];
                    if spec.agree.contains(&l) {
                        assert!(
                            (w - learned.max(0.0)).abs() < 1e-9,
                            "{}.{l}: agreement never weighs against",
                            spec.name
                        );
                    } else if spec.disagree.contains(&l) {
                        assert!(
                            (w - learned.min(0.0)).abs() < 1e-9,
                            "{}.{l}: disagreement never weighs for",
                            spec.name
                        );
                    } else {
                        assert!((w - learned).abs() < 1e-9);
                    }
                }
            }
        }
        assert!(
            model.report().contains("date_of_birth  day_month_swap"),
            "{}",
            model.report()
        );
    }

    #[test]
    fn agreeing_on_a_rare_family_name_weighs_more_than_on_a_common_one() {
        let mut names = vec!["MULLER"; 500];
        names.extend(["SCHMIDT"; 400]);
        names.extend(["OBERHOLZER"; 2]);
        let tf = model::TermFrequencies::count(names.into_iter(), 2).unwrap();
        assert_eq!(tf.family_name.len(), 2, "the commonest two, by name");
        assert!((tf.other - 2.0 / 902.0).abs() < 1e-12, "{}", tf.other);
        let mut m =
            model::estimate(&Tally::default(), &Tally::default(), 1).model(serde_json::Value::Null);
        m.term_frequencies = Some(tf);
        let weights = m.weights().unwrap();
        let adjust = weights.term_frequencies.as_ref().unwrap();
        let (common, rare) = (adjust.adjustment("MULLER"), adjust.adjustment("OBERHOLZER"));
        assert!(common < 0.0 && rare > 0.0, "{common} {rare}");
        assert_eq!(rare, model::MAX_ADJUST, "a rare name's bonus is bounded");
        // Through the scoring path: the same pair with a common or a rare name.
        let with_family = |family: &'static str| {
            let (a, b) = (
                Rec { family, ..entry() }.build(),
                Rec { family, ..exit() }.build(),
            );
            let (a, b) = (Prepared::new(&a), Prepared::new(&b));
            let levels = Comparison {
                names: NameLevel::Exact,
                ..compare(&a, &b)
            }
            .levels();
            weights.probability_of(&a, &b, &levels) - weights.probability(&levels)
        };
        assert!(with_family("Muller") <= 0.0 && with_family("Oberholzer") >= 0.0);
    }

    /// A model's blocking changes the keys of every record (which is why a
    /// hub rebuilds its index when its model changes), and only the names'.
    #[test]
    fn a_model_may_key_names_by_more_letters() {
        let r = Rec {
            family: "Beauchamp",
            given: "Marguerite",
            ..entry()
        }
        .build();
        let p = Prepared::new(&r);
        let three = block_keys_with(&p, 3);
        let four = block_keys_with(&p, 4);
        assert_eq!(three, block_keys(&p), "3 letters unless a model says");
        let named = |keys: &[String]| -> Vec<String> {
            keys.iter()
                .filter(|k| !k.starts_with('D') && !k.starts_with('O'))
                .cloned()
                .collect()
        };
        assert!(
            named(&three).iter().any(|k| k.contains("BEA/")),
            "{three:?}"
        );
        assert!(named(&four).iter().any(|k| k.contains("BEAU/")), "{four:?}");
        assert!(
            named(&three).iter().all(|k| !four.contains(k)),
            "no name key in common: {three:?} {four:?}"
        );
        let documents = |keys: &[String]| -> Vec<String> {
            keys.iter()
                .filter(|k| k.starts_with('D') || k.starts_with('O'))
                .cloned()
                .collect()
        };
        assert_eq!(documents(&three), documents(&four));
    }

    #[test]
    fn a_wrong_model_is_refused_saying_what_is_wrong() {
        let e = model::estimate(&Tally::default(), &Tally::default(), 1);
        let good = e.model(serde_json::Value::Null);
        let refused = |edit: &dyn Fn(&mut model::Model)| {
            let mut m = good.clone();
            edit(&mut m);
            read_config(&serde_json::json!({ "model": m }).to_string()).unwrap_err()
        };
        assert!(
            refused(&|m| m.format = "entrex-matcher-model/9".into()).contains("train it again")
        );
        assert!(refused(&|m| m.matcher = "other".into()).contains("trained for the matcher"));
        assert!(
            refused(&|m| m.comparisons.pop().map(|_| ()).unwrap()).contains("has 5 comparisons")
        );
        assert!(refused(&|m| m.comparisons[2].levels.swap(0, 1)).contains("date_of_birth"));
        let e = refused(&|m| m.comparisons[0].levels[0].u = 0.0);
        assert!(e.contains("names.exact: u is 0"), "{e}");
        assert!(refused(&|m| m.prior_log2_odds = 1000.0).contains("prior_log2_odds"));
        let e = refused(&|m| m.blocking = Some(model::Blocking { name_letters: 9 }));
        assert!(e.contains("blocking.name_letters is 9; from 2 to 6"), "{e}");
        let e = read_config(r#"{"model": {"format": 1}}"#).unwrap_err();
        assert!(e.contains("not one `entrex matcher train` writes"), "{e}");
    }
}
