//! A small HTTP client for talking to a hub's API: what a source system or an
//! operator's script does, used by the demo, the tests and the benchmarks.
//!
//! `http://` hubs through a pooled hyper client; `https://` hubs over TLS
//! with the hub's certificate pinned (one connection per request), optionally
//! presenting a client certificate.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::ingest::IngestReport;
use crate::report::{JointReport, Status};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("request to {url} failed: {detail}")]
    Transport { url: String, detail: String },
    #[error("{url} answered HTTP {status}: {body}")]
    Status {
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("{url} answered with an unexpected body: {detail}")]
    Body { url: String, detail: String },
}

#[derive(Clone)]
pub struct Client {
    base: String,
    http: HyperClient<HttpConnector, Full<Bytes>>,
    /// For an https hub: its pinned certificate, and our certificate if any.
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Sent as `Authorization: Bearer TOKEN` when set.
    token: Option<String>,
}

/// How long connecting and the TLS handshake may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Client {
    /// `base` is the hub's root URL, e.g. `http://127.0.0.1:7401`.
    pub fn new(base: impl Into<String>) -> Client {
        Client {
            base: base.into().trim_end_matches('/').to_owned(),
            http: HyperClient::builder(TokioExecutor::new()).build_http(),
            tls: None,
            token: None,
        }
    }

    /// The same client, authenticating with a bearer token (`entrex token`).
    pub fn with_token(mut self, token: impl Into<String>) -> Client {
        self.token = Some(token.into());
        self
    }

    /// A client for an https hub that accepts only `server_cert` from it
    /// (pinned) and presents `identity` as client certificate if given.
    pub fn pinned(
        base: impl Into<String>,
        server_cert: rustls::pki_types::CertificateDer<'static>,
        identity: Option<&crate::tls::Identity>,
    ) -> Result<Client, ClientError> {
        let mut client = Client::new(base);
        let config =
            crate::tls::client_config(server_cert, identity, &client.base).map_err(|detail| {
                ClientError::Transport {
                    url: client.base.clone(),
                    detail,
                }
            })?;
        client.tls = Some(config);
        Ok(client)
    }

    /// [`Client::pinned`] from PEM files: the hub's certificate, and
    /// optionally a client certificate and its key.
    pub fn pinned_files(
        base: impl Into<String>,
        server_cert: &Path,
        identity: Option<(&Path, &Path)>,
    ) -> Result<Client, ClientError> {
        let base = base.into();
        let setup = |detail: String| ClientError::Transport {
            url: base.clone(),
            detail,
        };
        let pinned = crate::tls::load_pinned(server_cert).map_err(|e| setup(e.to_string()))?;
        let identity = match identity {
            Some((cert, key)) => {
                Some(crate::tls::Identity::load(cert, key).map_err(|e| setup(e.to_string()))?)
            }
            None => None,
        };
        Client::pinned(base.clone(), pinned, identity.as_ref())
    }

    async fn send(
        &self,
        url: &str,
        req: Request<Full<Bytes>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
        let failed = |detail: String| ClientError::Transport {
            url: url.to_owned(),
            detail,
        };
        let https = req.uri().scheme() == Some(&http::uri::Scheme::HTTPS);
        let Some(tls) = self.tls.clone().filter(|_| https) else {
            if https {
                return Err(failed(
                    "an https hub needs its certificate pinned: use Client::pinned (or --hub-cert)"
                        .into(),
                ));
            }
            return self
                .http
                .request(req)
                .await
                .map_err(|e| failed(format!("{e:#}")));
        };
        let uri = req.uri().clone();
        let host = uri.host().ok_or_else(|| failed("no host".into()))?;
        let stream = crate::tls::connect(host, uri.port_u16().unwrap_or(443), tls, CONNECT_TIMEOUT)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| failed(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection ended: {e}");
            }
        });
        let (mut parts, body) = req.into_parts();
        parts.uri = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .parse()
            .map_err(|e: http::uri::InvalidUri| failed(e.to_string()))?;
        if let Some(authority) = uri.authority()
            && !parts.headers.contains_key(http::header::HOST)
        {
            parts.headers.insert(
                http::header::HOST,
                authority
                    .as_str()
                    .parse()
                    .map_err(|e: http::header::InvalidHeaderValue| failed(e.to_string()))?,
            );
        }
        sender
            .send_request(Request::from_parts(parts, body))
            .await
            .map_err(|e| failed(format!("{e:#}")))
    }

    /// Sends raw bytes and returns the status and body, whatever the status.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let (status, _, body) = self
            .request_with_headers(method, path, content_type, body)
            .await?;
        Ok((status, body))
    }

    /// [`Client::request`], with the response's headers too.
    pub async fn request_with_headers(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, http::HeaderMap, Bytes), ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = Request::builder()
            .method(method)
            .uri(&url)
            .header("content-type", content_type);
        if let Some(token) = &self.token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError::Transport {
                url: url.clone(),
                detail: e.to_string(),
            })?;
        let resp = self.send(&url, req).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Transport {
                url: url.clone(),
                detail: e.to_string(),
            })?
            .to_bytes();
        Ok((status, headers, body))
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<T, ClientError> {
        let (status, bytes) = self.request(method, path, content_type, body).await?;
        let url = format!("{}{path}", self.base);
        if !status.is_success() {
            return Err(ClientError::Status {
                url,
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Body {
            url,
            detail: e.to_string(),
        })
    }

    /// Posts a source batch; `content_type` is informational (the normaliser decides).
    pub async fn post_crossings(
        &self,
        content_type: &str,
        batch: Vec<u8>,
    ) -> Result<IngestReport, ClientError> {
        self.json(Method::POST, "/v1/crossings", content_type, batch)
            .await
    }

    /// Withdraws source records: partners holding them are sent a deletion.
    pub async fn withdraw(
        &self,
        request: &crate::ingest::WithdrawRequest,
    ) -> Result<crate::ingest::WithdrawReport, ClientError> {
        let body = serde_json::to_vec(request).expect("JSON encoding cannot fail");
        self.json(
            Method::POST,
            "/v1/crossings/withdrawals",
            "application/json",
            body,
        )
        .await
    }

    pub async fn status(&self) -> Result<Status, ClientError> {
        self.json(Method::GET, "/v1/status", "application/json", Vec::new())
            .await
    }

    /// Quarantined records are whole source records: personal data, so the
    /// request states its `purpose` (recorded in the hub's audit log).
    pub async fn quarantine(
        &self,
        purpose: &str,
    ) -> Result<Vec<crate::api::QuarantineEntry>, ClientError> {
        let path = format!("/v1/quarantine?purpose={}", encode_query(purpose));
        self.json(Method::GET, &path, "application/json", Vec::new())
            .await
    }

    /// Everything the hub holds about one travel document (individual access).
    pub async fn person_export(
        &self,
        document_country: &str,
        document_number: &str,
        purpose: &str,
    ) -> Result<crate::report::PersonExport, ClientError> {
        let path = format!(
            "/v1/persons/export?document_country={}&document_number={}&purpose={}",
            encode_query(document_country),
            encode_query(document_number),
            encode_query(purpose)
        );
        self.json(Method::GET, &path, "application/json", Vec::new())
            .await
    }

    /// The bundles partners refuse, with their entries (personal data: audited).
    pub async fn refused(
        &self,
        purpose: &str,
    ) -> Result<Vec<crate::exchange::RefusedDetail>, ClientError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            refused: Vec<crate::exchange::RefusedDetail>,
        }
        let path = format!("/v1/exchange/refused?purpose={}", encode_query(purpose));
        let answer: Answer = self
            .json(Method::GET, &path, "application/json", Vec::new())
            .await?;
        Ok(answer.refused)
    }

    /// Sets aside entries `partner` refuses for good.
    pub async fn set_aside(
        &self,
        partner: &str,
        seqs: &[u64],
    ) -> Result<Vec<crate::store::SetAside>, ClientError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            results: Vec<crate::store::SetAside>,
        }
        let body = serde_json::to_vec(&crate::api::SetAsideRequest {
            partner: partner.to_owned(),
            seqs: seqs.to_vec(),
        })
        .expect("JSON encoding cannot fail");
        let answer: Answer = self
            .json(
                Method::POST,
                "/v1/exchange/set-aside",
                "application/json",
                body,
            )
            .await?;
        Ok(answer.results)
    }

    /// Pairs in clerical review (personal data: audited with `purpose`).
    pub async fn review_pairs(
        &self,
        partner: Option<&str>,
        purpose: &str,
    ) -> Result<Vec<crate::insights::ReviewPair>, ClientError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            pairs: Vec<crate::insights::ReviewPair>,
        }
        let mut path = format!("/v1/matches/review?purpose={}", encode_query(purpose));
        if let Some(p) = partner {
            path.push_str(&format!("&partner={}", encode_query(p)));
        }
        let answer: Answer = self
            .json(Method::GET, &path, "application/json", Vec::new())
            .await?;
        Ok(answer.pairs)
    }

    /// Links a pair in review, or not.
    pub async fn decide_review(
        &self,
        request: &crate::api::ReviewDecisionRequest,
        purpose: &str,
    ) -> Result<crate::store::Decided, ClientError> {
        let path = format!(
            "/v1/matches/review/decision?purpose={}",
            encode_query(purpose)
        );
        let body = serde_json::to_vec(request).expect("JSON encoding cannot fail");
        self.json(Method::POST, &path, "application/json", body)
            .await
    }

    pub async fn retry_quarantine(&self) -> Result<IngestReport, ClientError> {
        self.json(
            Method::POST,
            "/v1/quarantine/retry",
            "application/json",
            Vec::new(),
        )
        .await
    }

    pub async fn reload_plugins(&self) -> Result<crate::hub::ReloadReport, ClientError> {
        self.json(
            Method::POST,
            "/v1/plugins/reload",
            "application/json",
            Vec::new(),
        )
        .await
    }

    pub async fn report(
        &self,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<JointReport, ClientError> {
        let mut query = Vec::new();
        if let Some(f) = from {
            query.push(format!("from={f}"));
        }
        if let Some(t) = to {
            query.push(format!("to={t}"));
        }
        let path = if query.is_empty() {
            "/v1/report".to_owned()
        } else {
            format!("/v1/report?{}", query.join("&"))
        };
        self.json(Method::GET, &path, "application/json", Vec::new())
            .await
    }

    /// `GET path?params` (values percent-encoded), answered with JSON.
    pub async fn get_query<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<T, ClientError> {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", encode_query(v)))
            .collect();
        let path = if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", query.join("&"))
        };
        self.json(Method::GET, &path, "application/json", Vec::new())
            .await
    }

    /// The joint report by period, port and direction (`params`: from, to,
    /// by, port).
    pub async fn report_by(&self, params: &[(&str, String)]) -> Result<JointReport, ClientError> {
        self.get_query("/v1/report", params).await
    }

    /// Overstays (`params`: as_of, port, limit, and the required purpose).
    pub async fn overstays(
        &self,
        params: &[(&str, String)],
    ) -> Result<crate::insights::OverstayList, ClientError> {
        self.get_query("/v1/overstays", params).await
    }

    /// Removal-order flags (`params`: status, and the required purpose).
    pub async fn removal_flags(
        &self,
        params: &[(&str, String)],
    ) -> Result<crate::removal::FlagList, ClientError> {
        self.get_query("/v1/removal-orders/flags", params).await
    }

    /// A person's decision on a removal-order flag.
    pub async fn decide_removal_flag(
        &self,
        decision: &crate::removal::Decision,
    ) -> Result<crate::store::RemovalFlag, ClientError> {
        let body = serde_json::to_vec(decision).expect("JSON encoding cannot fail");
        self.json(
            Method::POST,
            "/v1/removal-orders/flags/decision",
            "application/json",
            body,
        )
        .await
    }

    /// One person's travel history (`params` as `GET /v1/travel-history`).
    pub async fn travel_history(
        &self,
        params: &[(&str, String)],
    ) -> Result<crate::insights::TravelHistory, ClientError> {
        self.get_query("/v1/travel-history", params).await
    }

    /// One page of a partner's exits with this hub's matching decisions
    /// (`GET /v1/ledger/matches`; personal data: `purpose` is required).
    pub async fn ledger_matches(
        &self,
        partner: &str,
        after: u64,
        purpose: &str,
    ) -> Result<crate::ledger::matches::MatchPage, ClientError> {
        self.get_query(
            "/v1/ledger/matches",
            &[
                ("partner", partner.to_owned()),
                ("after", after.to_string()),
                ("purpose", purpose.to_owned()),
            ],
        )
        .await
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn encode_query(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
