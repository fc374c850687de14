//! A small HTTP client for talking to a hub's API: what a source system or an
//! operator's script does, used by the demo, the tests and the benchmarks.

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
}

impl Client {
    /// `base` is the hub's root URL, e.g. `http://127.0.0.1:7401`.
    pub fn new(base: impl Into<String>) -> Client {
        Client {
            base: base.into().trim_end_matches('/').to_owned(),
            http: HyperClient::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends raw bytes and returns the status and body, whatever the status.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let url = format!("{}{path}", self.base);
        let req = Request::builder()
            .method(method)
            .uri(&url)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError::Transport {
                url: url.clone(),
                detail: e.to_string(),
            })?;
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| ClientError::Transport {
                url: url.clone(),
                detail: format!("{e:#}"),
            })?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Transport {
                url: url.clone(),
                detail: e.to_string(),
            })?
            .to_bytes();
        Ok((status, body))
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

    pub async fn quarantine(&self) -> Result<Vec<crate::api::QuarantineEntry>, ClientError> {
        self.json(
            Method::GET,
            "/v1/quarantine",
            "application/json",
            Vec::new(),
        )
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
}
