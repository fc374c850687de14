//! The HTTP API (hyper, HTTP/1.1).
//!
//! | route | who | what |
//! |---|---|---|
//! | `POST /v1/crossings` | source systems | a batch in the agency's format; answered once durable |
//! | `POST /v1/crossings/withdrawals` | source systems | withdraw records by source reference |
//! | `POST /v1/partner/bundles` | partner hubs | a signed bundle; answered with a signed receipt |
//! | `GET /v1/status` | operators | counters and queue depths |
//! | `GET /v1/report` | analysts | the joint-report figures (`?from=&to=&by=day\|week\|month&port=`) |
//! | `GET /v1/report/breakdown` | analysts | reconciliation per period and per port (`?from=&to=&step=`), for the dashboard |
//! | `GET /v1/quarantine` | operators | records a plugin failed on, with why |
//! | `POST /v1/quarantine/retry` | operators | run them through the pipeline again |
//! | `POST /v1/plugins/reload` | operators | load the configured plugins again, canary, swap |
//! | `GET /v1/overstays` | analysts | entries past their authorised stay with no exit (personal data) |
//! | `GET /v1/removal-orders/flags` | analysts | exits matching the removal-order list (personal data) |
//! | `POST /v1/removal-orders/flags/decision` | analysts | confirm or reject a flag |
//! | `GET /v1/travel-history` | analysts | one person's trips, stays, presence (personal data) |
//! | `GET /v1/persons/export` | analysts | one travel document's records, with a purpose (audited) |
//! | `GET /v1/audit` | operators | the tail of the audit log |
//! | `POST /v1/retention/purge` | operators | purge personal data past `[retention]` now |
//! | `GET /v1/exchange/refused` | operators | bundles a partner refuses, with their entries (personal data) |
//! | `POST /v1/exchange/set-aside` | operators | set aside entries a partner refuses for good |
//! | `GET /v1/matches/review` | analysts | pairs in clerical review, both records (personal data) |
//! | `POST /v1/matches/review/decision` | analysts | link or not a pair in review (purpose, audited) |
//! | `GET /v1/ledger/matches` | analysts | a page of a partner's exits with this hub's matching decisions (personal data), for `entrex ledger export-matches` |
//! | `GET /healthz` | monitoring | liveness: the process answers |
//! | `GET /readyz` | monitoring | readiness, check by check (503 if any fails) |
//! | `GET /metrics` | monitoring (operator role) | Prometheus metrics (OpenMetrics text) |
//! | `GET /dashboard` (+ its script, style, icon) | anyone (static, no data) | the operators' page; its data needs an operator + analyst credential |
//!
//! [`ROUTES`] is the authoritative list; `docs/openapi.json` describes each.
//!
//! Errors are JSON `{"error": "..."}` with a status that says whose fault it is.
//!
//! A hub with a TLS certificate serves only TLS (see [`crate::tls`]);
//! `POST /v1/partner/bundles` then needs the client certificate pinned for a
//! configured partner, and that partner must be the bundle's sender.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::bundle;
use crate::exchange::{self, ReceiveError};
use crate::hub::Core;
use crate::ingest::{self, IngestError};
use crate::{audit, auth};

mod connections;
mod insights;
pub use insights::ReviewDecisionRequest;

use connections::{Admitted, Closed, Connections, Tracked, WriteTimeout};
pub use connections::{
    HANDSHAKE_TIMEOUT, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_CLIENT, REQUEST_HEAD_TIMEOUT,
    WRITE_TIMEOUT,
};

type Body = Full<Bytes>;

/// A pause after a failed accept (e.g. out of file descriptors), so the loop
/// does not spin on an error that persists until a connection ends.
const ACCEPT_ERROR_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// Accepts connections until `stop` turns true, then waits for the requests in
/// flight to finish. The loop never waits for a slot (`connections`): a
/// connection is given one at once, taken from an idle connection if need
/// be, or closed.
pub async fn serve(core: Arc<Core>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    let mut tasks = tokio::task::JoinSet::new();
    let table = Arc::new(Connections::default());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, addr) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                        continue;
                    }
                };
                let (admitted, closed) = table.admit(addr.ip());
                if let Some(closed) = closed {
                    core.metrics.connection_closed(closed.label());
                }
                let Some(admitted) = admitted else {
                    tracing::debug!(%addr, "every connection has a request in progress; closing the new one");
                    continue;
                };
                tasks.spawn(connection(core.clone(), stream, admitted, stop.clone()));
            }
            _ = stop.changed() => break,
        }
        while tasks.try_join_next().is_some() {}
    }
    // Closed now, not when the requests in flight are done: a client that
    // connects during the drain is refused at once (and retries elsewhere or
    // later) instead of waiting in the accept queue for a server that will
    // not answer.
    drop(listener);
    while tasks.join_next().await.is_some() {}
}

/// One connection, from its TLS handshake (if the hub serves TLS) to its end.
async fn connection(
    core: Arc<Core>,
    stream: tokio::net::TcpStream,
    admitted: Admitted,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    // Below TLS, so the handshake's writes are bounded too.
    let stream = WriteTimeout::new(stream);
    let Some(tls) = &core.tls else {
        return serve_connection(core.clone(), stream, Peer::Plain, admitted, stop).await;
    };
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor.accept(stream));
    let stream = tokio::select! {
        accepted = handshake => match accepted {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return tracing::debug!("TLS handshake failed: {e}"),
            Err(_) => {
                core.metrics.connection_closed(Closed::HandshakeTimeout.label());
                return tracing::debug!("TLS handshake timed out");
            }
        },
        _ = admitted.slot().evicted() => return,
        _ = stop.changed() => return,
    };
    let peer = Peer::Tls(
        stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.clone().into_owned()),
    );
    serve_connection(core.clone(), stream, peer, admitted, stop).await
}

/// Who is at the other end of a connection, as far as TLS tells.
enum Peer {
    /// A hub without TLS (`allow_plain_http`): nobody is authenticated.
    Plain,
    /// TLS, with the client's certificate if it presented one (its handshake
    /// signature verified: the client holds the certificate's key).
    Tls(Option<rustls::pki_types::CertificateDer<'static>>),
}

async fn serve_connection<S>(
    core: Arc<Core>,
    stream: S,
    peer: Peer,
    admitted: Admitted,
    mut stop: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let peer = Arc::new(peer);
    let admitted = Arc::new(admitted);
    let held = admitted.clone();
    let service = service_fn(move |req| {
        // In progress from its head until hyper has taken its answer.
        let busy = held.busy();
        let (core, peer) = (core.clone(), peer.clone());
        async move {
            let response = handle(core, peer, req).await?;
            Ok::<_, Infallible>(response.map(|body| Tracked { body, _busy: busy }))
        }
    });
    let conn = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(REQUEST_HEAD_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let slot = admitted.slot().clone();
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!("connection ended: {e}");
            }
            return;
        }
        _ = slot.evicted() => {}
        _ = stop.changed() => {}
    }
    // Evicted or stopping. Idle (no request dispatched: hyper dispatches
    // only while this task polls `conn`, so this cannot change under us):
    // close now, even halfway through a head. A request in progress is
    // finished and answered first.
    if slot.busy() {
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    }
}

/// What a route does; [`ROUTES`] maps each (method, path) to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Crossings,
    Withdrawals,
    PartnerBundles,
    Status,
    Report,
    Quarantine,
    QuarantineRetry,
    PluginsReload,
    PersonsExport,
    Audit,
    RetentionPurge,
    Healthz,
    Readyz,
    Metrics,
    Overstays,
    RemovalFlags,
    RemovalDecision,
    TravelHistory,
    ReportBreakdown,
    ExchangeRefused,
    SetAside,
    ReviewList,
    ReviewDecision,
    LedgerMatches,
    /// The dashboard's page and its static files (public: no data).
    Dashboard,
}

/// Every route the server answers, and nothing else: requests are
/// dispatched through this table, so `docs/openapi.json` is checked against
/// it (tests/it/openapi.rs) and cannot leave a route out.
pub const ROUTES: &[(&str, &str, Endpoint)] = &[
    ("POST", "/v1/crossings", Endpoint::Crossings),
    ("POST", "/v1/crossings/withdrawals", Endpoint::Withdrawals),
    ("POST", "/v1/partner/bundles", Endpoint::PartnerBundles),
    ("GET", "/v1/status", Endpoint::Status),
    ("GET", "/v1/report", Endpoint::Report),
    ("GET", "/v1/quarantine", Endpoint::Quarantine),
    ("POST", "/v1/quarantine/retry", Endpoint::QuarantineRetry),
    ("POST", "/v1/plugins/reload", Endpoint::PluginsReload),
    ("GET", "/v1/persons/export", Endpoint::PersonsExport),
    ("GET", "/v1/audit", Endpoint::Audit),
    ("POST", "/v1/retention/purge", Endpoint::RetentionPurge),
    ("GET", "/healthz", Endpoint::Healthz),
    ("GET", "/readyz", Endpoint::Readyz),
    ("GET", "/metrics", Endpoint::Metrics),
    ("GET", "/v1/overstays", Endpoint::Overstays),
    ("GET", "/v1/removal-orders/flags", Endpoint::RemovalFlags),
    (
        "POST",
        "/v1/removal-orders/flags/decision",
        Endpoint::RemovalDecision,
    ),
    ("GET", "/v1/travel-history", Endpoint::TravelHistory),
    ("GET", "/v1/report/breakdown", Endpoint::ReportBreakdown),
    ("GET", "/v1/exchange/refused", Endpoint::ExchangeRefused),
    ("POST", "/v1/exchange/set-aside", Endpoint::SetAside),
    ("GET", "/v1/matches/review", Endpoint::ReviewList),
    (
        "POST",
        "/v1/matches/review/decision",
        Endpoint::ReviewDecision,
    ),
    ("GET", "/v1/ledger/matches", Endpoint::LedgerMatches),
    ("GET", "/dashboard", Endpoint::Dashboard),
    ("GET", "/dashboard/dashboard.js", Endpoint::Dashboard),
    ("GET", "/dashboard/dashboard.css", Endpoint::Dashboard),
    ("GET", "/dashboard/icon.svg", Endpoint::Dashboard),
];

async fn handle(
    core: Arc<Core>,
    peer: Arc<Peer>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let route = ROUTES
        .iter()
        .find(|(m, p, _)| *p == path && *m == method.as_str());
    let response = match route {
        // Every route has a policy (a test checks); one without is closed.
        Some((_, _, endpoint)) => match auth::policy(&method, &path) {
            // The dashboard's static files: no credential, no data (`auth`).
            Some(policy) if policy.public => {
                crate::dashboard::serve(&path).unwrap_or_else(|| unrouted(&method, &path))
            }
            Some(policy) => match admit(
                &core,
                &peer,
                &policy,
                req.method(),
                req.uri(),
                req.headers(),
            )
            .await
            {
                Ok(principal) => dispatch(core.clone(), *endpoint, principal, req).await,
                Err(refusal) => *refusal,
            },
            None => error(
                StatusCode::FORBIDDEN,
                format!("{method} {path} has no access policy; nobody may call it"),
            ),
        },
        None => unrouted(&method, &path),
    };
    // Unknown paths are counted under one label, so a scanner cannot grow
    // the metrics without bound.
    let label = route.map_or("unknown", |(_, p, _)| *p);
    core.metrics.request(label, response.status().as_u16());
    Ok(response)
}

async fn dispatch(
    core: Arc<Core>,
    endpoint: Endpoint,
    principal: auth::Principal,
    req: Request<Incoming>,
) -> Response<Body> {
    match endpoint {
        Endpoint::Crossings => post_crossings(core, req).await,
        Endpoint::Withdrawals => post_withdrawals(core, req).await,
        Endpoint::PartnerBundles => {
            // Over TLS the partner is the one whose pinned certificate the
            // client presented; it may deliver only its own bundles.
            let partner = (principal.via == "client certificate").then_some(principal.name);
            post_bundle(core, partner, req).await
        }
        Endpoint::Status => status(core).await,
        Endpoint::Report => insights::report(core, req).await,
        Endpoint::Quarantine => quarantine_list(core).await,
        Endpoint::QuarantineRetry => quarantine_retry(core).await,
        Endpoint::PluginsReload => reload(core).await,
        Endpoint::PersonsExport => person_export(core, req).await,
        Endpoint::Audit => audit_tail(core).await,
        Endpoint::RetentionPurge => retention_purge(core).await,
        Endpoint::Healthz => text(StatusCode::OK, "ok\n"),
        Endpoint::Readyz => readyz(core).await,
        Endpoint::Metrics => metrics(core).await,
        Endpoint::ReportBreakdown => report_breakdown(core, req).await,
        Endpoint::ExchangeRefused => exchange_refused(core).await,
        Endpoint::SetAside => set_aside(core, req).await,
        Endpoint::ReviewList => insights::review_list(core, req).await,
        Endpoint::ReviewDecision => insights::review_decision(core, principal.name, req).await,
        Endpoint::Dashboard => crate::dashboard::serve(req.uri().path())
            .unwrap_or_else(|| unrouted(req.method(), req.uri().path())),
        Endpoint::Overstays => insights::overstays(core, req).await,
        Endpoint::RemovalFlags => insights::removal_flags(core, req).await,
        Endpoint::RemovalDecision => insights::removal_decision(core, req).await,
        Endpoint::TravelHistory => insights::travel_history(core, req).await,
        Endpoint::LedgerMatches => insights::ledger_matches(core, req).await,
    }
}

async fn retention_purge(core: Arc<Core>) -> Response<Body> {
    let result =
        tokio::task::spawn_blocking(move || crate::retention::purge(&core, exchange::now())).await;
    match result {
        Ok(Ok(purged)) => json(StatusCode::OK, &purged),
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn readyz(core: Arc<Core>) -> Response<Body> {
    match tokio::task::spawn_blocking(move || crate::health::readiness(&core)).await {
        Ok(readiness) => {
            let status = if readiness.ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            json(status, &readiness)
        }
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("readiness checks failed to run: {e}"),
        ),
    }
}

async fn metrics(core: Arc<Core>) -> Response<Body> {
    match tokio::task::spawn_blocking(move || crate::metrics::render(&core)).await {
        Ok(Ok(text)) => Response::builder()
            .status(StatusCode::OK)
            .header("content-type", crate::metrics::CONTENT_TYPE)
            .body(Full::new(Bytes::from(text)))
            .expect("static headers are valid"),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read the store's counters: {e}"),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// 405 (with `Allow`) for a known path with another method, 404 for an
/// unknown path. Answered before authentication: it reveals only the route
/// table, which docs/openapi.json publishes anyway.
fn unrouted(method: &Method, path: &str) -> Response<Body> {
    let allowed: Vec<&str> = ROUTES
        .iter()
        .filter(|(_, p, _)| *p == path)
        .map(|(m, _, _)| *m)
        .collect();
    if allowed.is_empty() {
        return error(StatusCode::NOT_FOUND, format!("no such endpoint: {path}"));
    }
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{method} is not allowed on {path}; use {}",
            allowed.join(", ")
        ),
    );
    if let Ok(value) = allowed.join(", ").parse() {
        response.headers_mut().insert(hyper::header::ALLOW, value);
    }
    response
}

/// Authenticates the caller, checks the route's role, requires a purpose for
/// personal data, and writes the audit entry before anything is read or done
/// (on the blocking pool: `AuditLog::append`). Refusals for want of a
/// credential are only counted, for the log's periodic summary.
async fn admit(
    core: &Arc<Core>,
    peer: &Peer,
    policy: &auth::Policy,
    method: &Method,
    uri: &hyper::Uri,
    headers: &hyper::HeaderMap,
) -> Result<auth::Principal, Box<Response<Body>>> {
    let action = format!("{method} {}", uri.path());
    let query = uri.query();
    let target: String = query
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("purpose="))
        .collect::<Vec<_>>()
        .join("&");
    let audited = policy.personal_data || policy.administrative;
    let event = |who: &auth::Principal, purpose: Option<String>, outcome: String| audit::Event {
        who: who.name.clone(),
        via: who.via.clone(),
        action: action.clone(),
        target: target.clone(),
        purpose,
        outcome,
    };
    let principal = match authenticate(core, peer, policy, &action, headers) {
        Ok(principal) => principal,
        Err((who, denied)) => {
            let (status, message) = match &denied {
                auth::Denied::Unauthenticated(m) => (StatusCode::UNAUTHORIZED, m),
                auth::Denied::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            };
            match who {
                // Anyone who reaches the port can send these: one log line
                // (and one audit line) each would let them fill the disk.
                None => {
                    tracing::debug!(%action, "refused ({}): {message}", status.as_u16());
                    if audited {
                        core.audit.count_refusal(&action);
                    }
                }
                Some(who) => {
                    tracing::warn!(%action, "refused ({}): {message}", status.as_u16());
                    if audited {
                        let outcome = format!("denied ({}): {message}", status.as_u16());
                        if let Err(e) = core.audit.append(event(&who, None, outcome)).await {
                            tracing::error!("cannot write the audit log: {e}");
                        }
                    }
                }
            }
            let mut response = error(status, message.clone());
            if status == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    hyper::header::WWW_AUTHENTICATE,
                    hyper::header::HeaderValue::from_static("Bearer realm=\"entrex\""),
                );
            }
            return Err(Box::new(response));
        }
    };
    let purpose = if policy.personal_data {
        match auth::purpose(query) {
            Ok(p) => Some(p),
            Err(why) => return Err(Box::new(error(StatusCode::BAD_REQUEST, why))),
        }
    } else {
        None
    };
    if audited
        && let Err(e) = core
            .audit
            .append(event(&principal, purpose, "allowed".into()))
            .await
    {
        tracing::error!("cannot write the audit log: {e}");
        return Err(Box::new(error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the access cannot be recorded in the audit log ({e}), so nothing was read or done; try again"
            ),
        )));
    }
    Ok(principal)
}

/// Who is calling and whether the route's policy lets them: the principal,
/// or who they are (if known) and why not.
fn authenticate(
    core: &Core,
    peer: &Peer,
    policy: &auth::Policy,
    action: &str,
    headers: &hyper::HeaderMap,
) -> Result<auth::Principal, (Option<auth::Principal>, auth::Denied)> {
    if matches!(peer, Peer::Plain) && policy.role == Some(auth::Role::Partner) {
        // Plain HTTP (development): bundles are authenticated by their
        // signature alone.
        return Ok(auth::Principal {
            name: "partner over plain HTTP".into(),
            roles: vec![auth::Role::Partner],
            via: "bundle signature".into(),
        });
    }
    let authorization = headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let peer_cert = match peer {
        Peer::Tls(Some(cert)) => Some(cert),
        _ => None,
    };
    let partner_for = |cert: &rustls::pki_types::CertificateDer<'_>| {
        core.tls
            .as_ref()
            .and_then(|t| t.partner_for(cert))
            .map(str::to_owned)
    };
    core.access
        .authorize(policy, action, authorization, peer_cert, partner_for)
}

/// Everything this hub holds about one travel document (individual access):
/// its own crossings and the partners' records, with the links between them.
async fn person_export(core: Arc<Core>, req: Request<Incoming>) -> Response<Body> {
    let params = query_params(req.uri().query());
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let (Some(country), Some(number)) = (get("document_country"), get("document_number")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "name the document: ?document_country=DEU&document_number=C01X00T47&purpose=...".into(),
        );
    };
    let result =
        tokio::task::spawn_blocking(move || crate::report::person_export(&core, &country, &number))
            .await;
    match result {
        Ok(Ok(export)) => json(StatusCode::OK, &export),
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn audit_tail(core: Arc<Core>) -> Response<Body> {
    let result = tokio::task::spawn_blocking(move || {
        core.audit
            .tail(1000)
            .map(|entries| serde_json::json!({ "head": core.audit.head(), "entries": entries }))
    })
    .await;
    match result {
        Ok(Ok(body)) => json(StatusCode::OK, &body),
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `a=1&b=x%20y` → [("a", "1"), ("b", "x y")].
fn query_params(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (auth::percent_decode(k), auth::percent_decode(v)))
        .collect()
}

/// Reads a request's body of at most `limit` bytes, within the deadline its
/// announced length (else `limit`) allows (`connections::body_deadline`).
async fn read_body(req: Request<Incoming>, limit: usize) -> Result<Bytes, Response<Body>> {
    let announced = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(limit as u64)
        .min(limit as u64);
    let deadline = connections::body_deadline(announced);
    let collected =
        tokio::time::timeout(deadline, Limited::new(req.into_body(), limit).collect()).await;
    let Ok(collected) = collected else {
        return Err(error(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the body did not arrive within {} s; nothing of it was used: send the request again",
                deadline.as_secs()
            ),
        ));
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body is larger than {limit} bytes; split it into smaller requests"),
            ))
        }
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("cannot read body: {e}"),
        )),
    }
}

async fn post_crossings(core: Arc<Core>, req: Request<Incoming>) -> Response<Body> {
    let body = match read_body(req, core.settings.max_batch_bytes).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let shared = core.clone();
    let result = tokio::task::spawn_blocking(move || ingest::ingest(&shared, &body)).await;
    match result {
        Ok(Ok(report)) => {
            core.metrics.ingested(&report);
            json(StatusCode::OK, &report)
        }
        Ok(Err(e @ (IngestError::BadBatch(_) | IngestError::TooManyRecords(..)))) => {
            error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        Ok(Err(e @ IngestError::QueueFull(_))) => {
            tracing::warn!("source batch refused: {e}");
            error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        Ok(Err(e)) => {
            tracing::error!("ingest failed: {e}");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the batch may not have been stored ({e}); send it again: records already stored are recognised by their source reference and not stored twice"
                ),
            )
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("ingest task failed: {e}; nothing was stored, send it again"),
        ),
    }
}

async fn post_withdrawals(core: Arc<Core>, req: Request<Incoming>) -> Response<Body> {
    let body = match read_body(req, core.settings.max_batch_bytes).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let request: ingest::WithdrawRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("expected {{\"source_refs\": [\"...\"], \"reason\": \"...\"}}: {e}"),
            );
        }
    };
    let result = tokio::task::spawn_blocking(move || ingest::withdraw(&core, &request)).await;
    match result {
        Ok(Ok(report)) => json(StatusCode::OK, &report),
        Ok(Err(e @ (IngestError::BadBatch(_) | IngestError::TooManyRecords(..)))) => {
            error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        Ok(Err(e)) => {
            tracing::error!("withdrawal failed: {e}");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the withdrawal may not have been stored ({e}); send it again"),
            )
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("withdrawal task failed: {e}; send it again"),
        ),
    }
}

async fn post_bundle(
    core: Arc<Core>,
    partner: Option<String>,
    req: Request<Incoming>,
) -> Response<Body> {
    let body = match read_body(req, bundle::MAX_MESSAGE_BYTES).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let result =
        tokio::task::spawn_blocking(move || exchange::receive(&core, &body, partner.as_deref()))
            .await;
    match result {
        Ok(Ok(receipt)) => Response::builder()
            .status(StatusCode::OK)
            .header("content-type", bundle::MEDIA_TYPE)
            .body(Full::new(Bytes::from(receipt)))
            .expect("static headers are valid"),
        Ok(Err(ReceiveError::Gap {
            expected,
            sender,
            got,
        })) => {
            let body = serde_json::json!({
                "error": format!("bundle from {sender} starts at {got}; the next expected is {expected}"),
                "expected_seq": expected,
            });
            json(StatusCode::CONFLICT, &body)
        }
        Ok(Err(e @ ReceiveError::WrongPeer { .. })) => {
            tracing::warn!("bundle refused: {e}");
            error(StatusCode::FORBIDDEN, e.to_string())
        }
        Ok(Err(ReceiveError::Store(e))) => {
            tracing::error!("storing a bundle failed: {e}");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("bundle not stored ({e}); send it again"),
            )
        }
        Ok(Err(e)) => {
            tracing::warn!("bundle refused: {e}");
            error(StatusCode::BAD_REQUEST, e.to_string())
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("receive task failed: {e}"),
        ),
    }
}

async fn status(core: Arc<Core>) -> Response<Body> {
    match tokio::task::spawn_blocking(move || crate::report::status(&core)).await {
        Ok(Ok(status)) => json(StatusCode::OK, &status),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `?from=&to=&step=`, each in seconds and optional.
async fn report_breakdown(core: Arc<Core>, req: Request<Incoming>) -> Response<Body> {
    let (mut from, mut to, mut step) = (None, None, None);
    for (k, v) in query_params(req.uri().query()) {
        let slot = match k.as_str() {
            "from" => &mut from,
            "to" => &mut to,
            "step" => &mut step,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "unknown query parameter {k:?}; use from= and to= (unix seconds) and step= (seconds, whole hours)"
                    ),
                );
            }
        };
        match v.parse::<i64>() {
            Ok(n) => *slot = Some(n),
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("{k}={v:?} is not a whole number of seconds, e.g. {k}=86400"),
                );
            }
        }
    }
    let result =
        tokio::task::spawn_blocking(move || crate::report::breakdown(&core, from, to, step)).await;
    match result {
        Ok(Ok(breakdown)) => json(StatusCode::OK, &breakdown),
        Ok(Err(crate::report::BreakdownError::BadRequest(why))) => {
            error(StatusCode::BAD_REQUEST, why)
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn exchange_refused(core: Arc<Core>) -> Response<Body> {
    match tokio::task::spawn_blocking(move || exchange::refused_bundles(&core)).await {
        Ok(Ok(refused)) => json(StatusCode::OK, &serde_json::json!({ "refused": refused })),
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `{"partner": "US", "seqs": [7]}`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetAsideRequest {
    pub partner: String,
    pub seqs: Vec<u64>,
}

/// The most sequence numbers one request may set aside: a refused bundle
/// holds at most `bundle_max_records`, and a typo should not set aside a
/// whole queue.
const MAX_SET_ASIDE: usize = 10_000;

async fn set_aside(core: Arc<Core>, req: Request<Incoming>) -> Response<Body> {
    let body = match read_body(req, 1 << 20).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let request: SetAsideRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("expected {{\"partner\": \"US\", \"seqs\": [7]}}: {e}"),
            );
        }
    };
    if request.seqs.is_empty() || request.seqs.len() > MAX_SET_ASIDE {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "name 1 to {MAX_SET_ASIDE} sequence numbers in \"seqs\" (GET /v1/exchange/refused lists the refused ones)"
            ),
        );
    }
    let result = tokio::task::spawn_blocking(move || {
        core.set_aside(&request.partner, &request.seqs)
            .map(|results| serde_json::json!({ "partner": request.partner, "results": results }))
    })
    .await;
    match result {
        Ok(Ok(body)) => json(StatusCode::OK, &body),
        Ok(Err(e @ crate::hub::HubError::UnknownPartner(_))) => {
            error(StatusCode::NOT_FOUND, e.to_string())
        }
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// One quarantined record as operators see it: why and where, not its content.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
pub struct QuarantineEntry {
    pub id: u64,
    pub location: String,
    pub stage: String,
    pub plugin: String,
    pub reason: String,
    pub quarantined_at: i64,
    pub bytes: usize,
}

const QUARANTINE_PAGE: usize = 10_000;

async fn quarantine_list(core: Arc<Core>) -> Response<Body> {
    let result =
        tokio::task::spawn_blocking(move || core.store.quarantined(0, QUARANTINE_PAGE)).await;
    match result {
        Ok(Ok(held)) => {
            let entries: Vec<QuarantineEntry> = held
                .into_iter()
                .map(|q| QuarantineEntry {
                    id: q.id,
                    location: q.location,
                    stage: q.quarantine.stage,
                    plugin: q.quarantine.plugin,
                    reason: q.quarantine.reason,
                    quarantined_at: q.at,
                    bytes: q.raw.len(),
                })
                .collect();
            json(StatusCode::OK, &entries)
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn quarantine_retry(core: Arc<Core>) -> Response<Body> {
    let shared = core.clone();
    let result =
        tokio::task::spawn_blocking(move || ingest::retry_quarantined(&shared, QUARANTINE_PAGE))
            .await;
    match result {
        Ok(Ok(report)) => {
            core.metrics.ingested(&report);
            json(StatusCode::OK, &report)
        }
        Ok(Err(e)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("retry failed, the records stay in quarantine: {e}"),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn reload(core: Arc<Core>) -> Response<Body> {
    match tokio::task::spawn_blocking(move || core.reload_plugins()).await {
        Ok(Ok(report)) => json(StatusCode::OK, &report),
        Ok(Err(e)) => error(StatusCode::CONFLICT, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    let body = serde_json::to_vec_pretty(value).expect("JSON encoding of a response cannot fail");
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static headers are valid")
}

fn error(status: StatusCode, message: String) -> Response<Body> {
    json(status, &serde_json::json!({ "error": message }))
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("static headers are valid")
}
