//! Routes for analysts: the joint report by period, port and direction,
//! overstays, removal-order flags, and one person's travel history.
//!
//! Routes that answer with personal data (overstays, flags, travel history)
//! are `personal` in [`crate::auth::policy`]: the analyst role, a `purpose`
//! (refused with 400 naming it when missing) and an audit entry are checked
//! and written before a handler here runs; the handlers accept `purpose` as a
//! parameter and leave it to that.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::{Body, error, json, read_body};
use crate::hub::Core;
use crate::insights::{HistoryQuery, Person};
use crate::presence::{Day, SECONDS_PER_DAY, day_of};
use crate::record::Timestamp;
use crate::report::{Period, ReportQuery};
use crate::store::FlagStatus;

/// A request the analysts' routes refuse: the status and what to fix.
struct Refusal(StatusCode, String);

impl From<Refusal> for Response<Body> {
    fn from(r: Refusal) -> Response<Body> {
        error(r.0, r.1)
    }
}

/// A request's query parameters, decoded, each given at most once.
struct Query {
    pairs: Vec<(String, String)>,
}

/// Splits and percent-decodes the query, refusing parameters not in
/// `accepted` (a typo would otherwise be silently ignored) and repeats.
fn query(req: &Request<Incoming>, accepted: &[&str]) -> Result<Query, Refusal> {
    let bad = |m: String| Refusal(StatusCode::BAD_REQUEST, m);
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pair in req.uri().query().unwrap_or("").split('&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = match (decode(k), decode(v)) {
            (Some(k), Some(v)) => (k, v),
            _ => {
                return Err(bad(format!(
                    "the query parameter {pair:?} is not valid percent-encoded UTF-8"
                )));
            }
        };
        if !accepted.contains(&k.as_str()) {
            return Err(bad(format!(
                "unknown query parameter {k:?}; this endpoint takes {}",
                accepted.join(", ")
            )));
        }
        if pairs.iter().any(|(seen, _)| *seen == k) {
            return Err(bad(format!(
                "the query parameter {k} is given twice; give it once"
            )));
        }
        pairs.push((k, v));
    }
    Ok(Query { pairs })
}

impl Query {
    fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// `key` parsed by `parse`, whose error is turned into a 400 naming it.
    fn parse<T>(
        &self,
        key: &str,
        parse: impl Fn(&str, &str) -> Result<T, String>,
    ) -> Result<Option<T>, Refusal> {
        self.get(key)
            .map(|v| parse(key, v))
            .transpose()
            .map_err(|m| Refusal(StatusCode::BAD_REQUEST, m))
    }
}

/// `%XX` escapes and `+` for a space, as browsers and curl `--data-urlencode` write them.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

const TIME_FORMS: &str = "unix seconds (1795219200), a date (2026-11-21, midnight UTC) or an RFC 3339 time (2026-11-21T14:00:00Z)";

/// A moment: unix seconds, a date (its midnight UTC) or RFC 3339.
fn time(key: &str, v: &str) -> Result<Timestamp, String> {
    if let Ok(n) = v.parse::<i64>() {
        return Ok(n);
    }
    if let Ok((y, m, d)) = entrex_plugin_common::dates::parse_date(v) {
        return Ok(entrex_plugin_common::dates::start_of_day_unix(y, m, d));
    }
    entrex_plugin_common::dates::parse_rfc3339(v)
        .map_err(|_| format!("{key}={v:?} is not a time; give {TIME_FORMS}"))
}

/// A calendar day, `YYYY-MM-DD`.
fn day(key: &str, v: &str) -> Result<Day, String> {
    entrex_plugin_common::dates::parse_date(v)
        .map(|(y, m, d)| day_of(entrex_plugin_common::dates::start_of_day_unix(y, m, d)))
        .map_err(|e| format!("{key}={v:?}: {e}"))
}

/// The report counts whole UTC days: a bound must be a midnight UTC.
fn report_day(key: &str, v: &str) -> Result<Day, String> {
    let t = time(key, v)?;
    if t.rem_euclid(SECONDS_PER_DAY) != 0 {
        return Err(format!(
            "{key}={v:?} is not midnight UTC; the report counts whole UTC days, so give a date such as {key}={} or unix seconds divisible by 86400",
            crate::report::date(day_of(t))
        ));
    }
    Ok(day_of(t))
}

fn port(key: &str, v: &str) -> Result<String, String> {
    let ok = (1..=8).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    ok.then(|| v.to_owned()).ok_or_else(|| {
        format!("{key}={v:?} is not a port code; write 1-8 upper-case letters or digits, e.g. {key}=0427")
    })
}

async fn blocking<T: serde::Serialize + Send + 'static, E: std::fmt::Display + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, Response<Body>> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

/// `GET /v1/report?from=&to=&by=day|week|month&port=`.
pub(super) async fn report(core: Arc<Core>, req: Request<Incoming>) -> Response<Body> {
    report_inner(core, req).await.unwrap_or_else(|r| r)
}

async fn report_inner(
    core: Arc<Core>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Response<Body>> {
    let q = query(&req, &["from", "to", "by", "port"])?;
    let report_query = ReportQuery {
        from: q.parse("from", report_day)?,
        to: q.parse("to", report_day)?,
        by: q.parse("by", |k, v| {
            v.parse::<Period>().map_err(|e| format!("{k}={v:?}: {e}"))
        })?,
        port: q.parse("port", port)?,
    };
    if let (Some(f), Some(t)) = (report_query.from, report_query.to)
        && f >= t
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "from must be before to (to is the first day not counted)".into(),
        ));
    }
    let report = blocking(move || crate::report::joint_report_for(&core, &report_query)).await?;
    Ok(json(StatusCode::OK, &report))
}

/// Most overstays listed per request unless `limit` says otherwise.
const OVERSTAYS_LIMIT: usize = 1_000;

/// `GET /v1/overstays?as_of=&port=&limit=&purpose=`.
pub(super) async fn overstays(core: Arc<Core>, req: Request<Incoming>) -> Response<Body> {
    overstays_inner(core, req).await.unwrap_or_else(|r| r)
}

async fn overstays_inner(
    core: Arc<Core>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Response<Body>> {
    let q = query(&req, &["as_of", "port", "limit", "purpose"])?;
    let as_of = q.parse("as_of", time)?.unwrap_or_else(crate::exchange::now);
    let port = q.parse("port", port)?;
    let limit = q
        .parse("limit", |k, v| match v.parse::<usize>() {
            Ok(n) if (1..=100_000).contains(&n) => Ok(n),
            _ => Err(format!("{k}={v:?} must be a number from 1 to 100000")),
        })?
        .unwrap_or(OVERSTAYS_LIMIT);
    let list =
        blocking(move || crate::insights::overstays(&core, as_of, port.as_deref(), limit)).await?;
    Ok(json(StatusCode::OK, &list))
}

/// `GET /v1/removal-orders/flags?status=&purpose=`.
pub(super) async fn removal_flags(core: Arc<Core>, req: Request<Incoming>) -> Response<Body> {
    removal_flags_inner(core, req).await.unwrap_or_else(|r| r)
}

async fn removal_flags_inner(
    core: Arc<Core>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Response<Body>> {
    let q = query(&req, &["status", "purpose"])?;
    let status = q
        .parse("status", |k, v| match v {
            "pending" => Ok(Some(FlagStatus::Pending)),
            "confirmed" => Ok(Some(FlagStatus::Confirmed)),
            "rejected" => Ok(Some(FlagStatus::Rejected)),
            "all" => Ok(None),
            _ => Err(format!(
                "{k}={v:?} is not a status; write pending, confirmed, rejected or all"
            )),
        })?
        .flatten();
    let list = blocking(move || crate::removal::flags(&core, status)).await?;
    Ok(json(StatusCode::OK, &list))
}

/// `POST /v1/removal-orders/flags/decision` with `{"flag", "decision", "note"}`.
pub(super) async fn removal_decision(core: Arc<Core>, req: Request<Incoming>) -> Response<Body> {
    removal_decision_inner(core, req)
        .await
        .unwrap_or_else(|r| r)
}

async fn removal_decision_inner(
    core: Arc<Core>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Response<Body>> {
    let body = read_body(req, 64 * 1024).await?;
    let d: crate::removal::Decision = serde_json::from_slice(&body).map_err(|e| {
            error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "expected {{\"flag\": 12, \"decision\": \"confirmed\" | \"rejected\" | \"pending\", \"note\": \"...\"}}: {e}"
                ),
            )
        })?;
    if d.note.as_ref().is_some_and(|n| n.len() > 1_000) {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "note is longer than 1000 bytes; keep it short and refer to the case file".into(),
        ));
    }
    let id = d.flag;
    let decided = blocking(move || {
        core.store
            .decide_removal_flag(d.flag, d.decision, d.note, crate::exchange::now())
    })
    .await?;
    match decided {
        Some(flag) => Ok(json(StatusCode::OK, &flag)),
        None => Err(error(
            StatusCode::NOT_FOUND,
            format!("there is no flag {id}; GET /v1/removal-orders/flags lists them"),
        )),
    }
}

/// Pairs listed by `GET /v1/matches/review` unless `limit` says otherwise.
const REVIEW_LIMIT: usize = 1_000;

/// `GET /v1/matches/review?partner=&limit=&purpose=`.
pub(super) async fn review_list(core: Arc<Core>, req: Request<Incoming>) -> Response<Body> {
    review_list_inner(core, req).await.unwrap_or_else(|r| r)
}

async fn review_list_inner(
    core: Arc<Core>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Response<Body>> {
    let q = query(&req, &["partner", "limit", "purpose"])?;
    let partner = q.get("partner").map(str::to_owned);
    if let Some(p) = &partner
        && !core.partner_ids.contains(p)
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!(
                "partner={p:?} is not a configured partner; write one of {}",
                core.partner_ids.join(", ")
            ),
        ));
    }
    let limit = q
        .parse("limit", |k, v| match v.parse::<usize>() {
            Ok(n) if (1..=100_000).contains(&n) => Ok(n),
            _ => Err(format!("{k}={v:?} must be a number from 1 to 100000")),
        })?
        .unwrap_or(REVIEW_LIMIT);
    let pairs =
        blocking(move || crate::insights::review_pairs(&core, partner.as_deref(), limit)).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "pairs": pairs })))
}

/// The body of `POST /v1/matches/review/decision`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecisionRequest {
    pub partner: String,
    pub exit_seq: u64,
    pub decision: crate::store::ReviewDecision,
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /v1/matches/review/decision?purpose=` with `{"partner", "exit_seq", "decision", "note"}`.
pub(super) async fn review_decision(
    core: Arc<Core>,
    who: String,
    req: Request<Incoming>,
) -> Response<Body> {
    review_decision_inner(core, who, req)
        .await
        .unwrap_or_else(|r| r)
}

async fn review_decision_inner(
    core: Arc<Core>,
    who: String,
    req: Request<Incoming>,
) -> Result<Response<Body>, Response<Body>> {
    let body = read_body(req, 64 * 1024).await?;
    let d: ReviewDecisionRequest = serde_json::from_slice(&body).map_err(|e| {
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "expected {{\"partner\": \"US\", \"exit_seq\": 12, \"decision\": \"link\" | \"not_link\", \"note\": \"...\"}}: {e}"
            ),
        )
    })?;
    if d.note.as_ref().is_some_and(|n| n.len() > 1_000) {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "note is longer than 1000 bytes; keep it short and refer to the case file".into(),
        ));
    }
    if !core.partner_ids.contains(&d.partner) {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("{:?} is not a configured partner", d.partner),
        ));
    }
    let decided = blocking(move || {
        core.store.decide_review(
            &d.partner,
            d.exit_seq,
            d.decision,
            &who,
            d.note.as_deref(),
            crate::exchange::now(),
        )
    })
    .await?;
    use crate::store::Decided;
    match &decided {
        Decided::Linked | Decided::NotLinked => Ok(json(StatusCode::OK, &decided)),
        Decided::NotInReview => Err(error(
            StatusCode::CONFLICT,
            "no pair of that exit is in review (decided before, or never there); GET /v1/matches/review lists them".into(),
        )),
        Decided::EntryTaken { partner, exit_seq } => Err(error(
            StatusCode::CONFLICT,
            format!("the entry is linked to {partner}'s record {exit_seq} already; an entry closes with one exit"),
        )),
    }
}

/// `GET /v1/travel-history?...&purpose=`.
pub(super) async fn travel_history(core: Arc<Core>, req: Request<Incoming>) -> Response<Body> {
    travel_history_inner(core, req).await.unwrap_or_else(|r| r)
}

async fn travel_history_inner(
    core: Arc<Core>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Response<Body>> {
    let q = query(
        &req,
        &[
            "document_country",
            "document_number",
            "family_name",
            "given_names",
            "date_of_birth",
            "as_of",
            "from",
            "to",
            "became_pr",
            "purpose",
        ],
    )?;
    let by_document = q.get("document_country").is_some() || q.get("document_number").is_some();
    let by_name = q.get("family_name").is_some()
        || q.get("given_names").is_some()
        || q.get("date_of_birth").is_some();
    let person = match (
        by_document,
        by_name,
        q.get("document_country"),
        q.get("document_number"),
        q.get("family_name"),
        q.get("date_of_birth"),
    ) {
        (true, false, Some(country), Some(number), _, _) => Person::Document {
            country: country.to_owned(),
            number: number.to_owned(),
        },
        (false, true, _, _, Some(family), Some(dob)) => Person::Name {
            family_name: family.to_owned(),
            given_names: q.get("given_names").unwrap_or("").to_owned(),
            date_of_birth: {
                let d = entrex_plugin_common::dates::parse_partial_date(dob).map_err(|e| {
                    error(
                        StatusCode::BAD_REQUEST,
                        format!("date_of_birth={dob:?}: {e}"),
                    )
                })?;
                crate::record::PartialDate {
                    year: d.year,
                    month: d.month,
                    day: d.day,
                }
            },
        },
        _ => {
            return Err(error(
                    StatusCode::BAD_REQUEST,
                    "say whom to look up: document_country and document_number (e.g. document_country=MEX&document_number=G12345678), or family_name and date_of_birth, with given_names (e.g. family_name=GARCIA&given_names=JOSE&date_of_birth=1979-12-31); not both".into(),
                ));
        }
    };
    let today = day_of(crate::exchange::now());
    let history_query = HistoryQuery {
        person,
        as_of: q.parse("as_of", day)?.unwrap_or(today),
        from: q.parse("from", day)?,
        to: q.parse("to", day)?,
        became_pr: q.parse("became_pr", day)?,
    };
    if let (Some(f), Some(t)) = (history_query.from, history_query.to)
        && f > t
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "from must not be after to (both days are counted)".into(),
        ));
    }
    let history = blocking(move || crate::insights::travel_history(&core, &history_query)).await?;
    Ok(json(StatusCode::OK, &history))
}

/// `GET /v1/ledger/matches?partner=&after=&limit=&purpose=`: one page of the
/// partner's exits with this hub's matching decisions, for `entrex ledger
/// export-matches` (`crate::ledger::matches`).
pub(super) async fn ledger_matches(core: Arc<Core>, req: Request<Incoming>) -> Response<Body> {
    ledger_matches_inner(core, req).await.unwrap_or_else(|r| r)
}

async fn ledger_matches_inner(
    core: Arc<Core>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Response<Body>> {
    use crate::ledger::matches::{MAX_PAGE_ROWS, PAGE_ROWS};
    let q = query(&req, &["partner", "after", "limit", "purpose"])?;
    let Some(partner) = q.get("partner").map(str::to_owned) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!(
                "name the partner whose exits to list: ?partner={}",
                core.partner_ids.first().map_or("US", String::as_str)
            ),
        ));
    };
    if !core.partner_ids.contains(&partner) {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!(
                "no partner {partner:?} is configured on this hub; its partners are {}",
                core.partner_ids.join(", ")
            ),
        ));
    }
    let after = q
        .parse("after", |k, v| {
            v.parse::<u64>()
                .map_err(|_| format!("{k}={v:?} is not a sequence number"))
        })?
        .unwrap_or(0);
    let limit = q
        .parse("limit", |k, v| match v.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_ROWS).contains(&n) => Ok(n),
            _ => Err(format!(
                "{k}={v:?} must be a number from 1 to {MAX_PAGE_ROWS}"
            )),
        })?
        .unwrap_or(PAGE_ROWS);
    let page =
        blocking(move || crate::ledger::matches::page(&core, &partner, after, limit)).await?;
    Ok(json(StatusCode::OK, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(
            decode("GARC%C3%8DA+L%C3%B3pez").as_deref(),
            Some("GARCÍA López")
        );
        assert_eq!(decode("a%2"), None);
        assert_eq!(decode("%FF"), None);
    }

    #[test]
    fn times_take_three_forms_and_report_bounds_must_be_midnight() {
        assert_eq!(time("as_of", "1795219200"), Ok(1_795_219_200));
        assert_eq!(time("as_of", "2026-11-21"), Ok(1_795_219_200));
        assert_eq!(time("as_of", "2026-11-21T01:00:00Z"), Ok(1_795_222_800));
        assert!(
            time("as_of", "tomorrow")
                .unwrap_err()
                .contains("is not a time")
        );
        assert_eq!(report_day("from", "2026-11-21"), Ok(20_778));
        let e = report_day("from", "1795222800").unwrap_err();
        assert!(
            e.contains("not midnight UTC") && e.contains("from=2026-11-21"),
            "{e}"
        );
    }
}
