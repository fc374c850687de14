//! The default `transport` plugin: POSTs a signed bundle to the partner hub
//! over `wasi:http/outgoing-handler` and turns the answer into an `outcome`.
//!
//! The decisions (URL, status, sizes, configuration) are plain Rust so that
//! `cargo test` checks them natively; the wasi:http plumbing (`component`)
//! exists only in the wasm32 build.

/// The media type of an untagged COSE_Sign1 message (RFC 9052, section 2).
pub const CONTENT_TYPE: &str = "application/cose; cose-type=\"cose-sign1\"";
/// Most bytes `blocking-write-and-flush` accepts in one call.
pub const WRITE_CHUNK: usize = 4096;
/// A receipt is a small signed message; anything this big is not one, and
/// reading it all would let a partner exhaust the plugin's memory.
pub const MAX_RECEIPT: usize = 1 << 20;
/// How much of a refusal's body reaches the operator.
pub const MAX_REFUSAL_TEXT: usize = 2 << 10;
/// How much of a 5xx body goes into the retry message, which is kept per
/// bundle and shown in lists: enough for "maintenance until 14:00".
pub const MAX_RETRY_TEXT: usize = 200;

/// Accepts only an empty table: the endpoint comes with each `send` and the
/// timeouts are fixed.
pub fn check_config(config_json: &str) -> Result<(), String> {
    let config: serde_json::Value = serde_json::from_str(config_json)
        .map_err(|e| format!("the configuration is not a JSON object: {e}"))?;
    let Some(table) = config.as_object() else {
        return Err("the configuration must be a table, e.g. `config = {}`".into());
    };
    if table.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = table.keys().map(|k| format!("`{k}`")).collect();
    Err(format!(
        "https-transport takes no configuration; remove the unknown key(s) {}",
        keys.join(", ")
    ))
}

/// Where a request goes, in the pieces `outgoing-request` wants.
#[derive(Debug, PartialEq, Eq)]
pub struct Target<'a> {
    pub https: bool,
    pub authority: &'a str,
    pub path_with_query: String,
}

/// Splits an absolute `http(s)://host[:port][/path][?query]` URL. The
/// fragment is dropped because it is never sent; user info is refused
/// because credentials do not belong in a configured URL.
pub fn parse_url(url: &str) -> Result<Target<'_>, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("it is not an absolute URL such as https://hub.example/bundles")?;
    let https = if scheme.eq_ignore_ascii_case("https") {
        true
    } else if scheme.eq_ignore_ascii_case("http") {
        false
    } else {
        return Err(format!("scheme `{scheme}` is neither https nor http"));
    };
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    if authority.is_empty() {
        return Err("it names no host".into());
    }
    if authority.contains('@') {
        return Err("it carries user info (`user@`), which is not supported".into());
    }
    let path_with_query = match path.chars().next() {
        None => "/".to_string(),
        Some('?') => format!("/{path}"),
        Some(_) => path.to_string(),
    };
    Ok(Target {
        https,
        authority,
        path_with_query,
    })
}

/// What the partner's answer means for the bundle; mirrors `outcome`.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Receipt(Vec<u8>),
    Refused(u16, String),
    Retry(String),
}

/// How many body bytes to read for `status`: one past the limit, so that
/// [`judge`] can tell "exactly at the limit" from "over it".
pub fn read_limit(status: u16) -> usize {
    if status == 200 {
        MAX_RECEIPT + 1
    } else {
        MAX_REFUSAL_TEXT
    }
}

/// Maps a complete answer (body read up to [`read_limit`]) to a verdict.
/// Only 200 carries a receipt. Every other answer below 500 is refused,
/// 3xx included: following a redirect would send the bundle somewhere the
/// hub did not configure.
pub fn judge(url: &str, status: u16, body: Vec<u8>) -> Verdict {
    match status {
        200 if body.len() > MAX_RECEIPT => {
            Verdict::Retry(format!("receipt larger than 1 MiB from {url}"))
        }
        200 => Verdict::Receipt(body),
        500..=599 => {
            let mut message = format!("{url} answered HTTP {status}");
            let text = lossy_prefix(&body, MAX_RETRY_TEXT);
            if !text.trim().is_empty() {
                message.push_str(": ");
                message.push_str(text.trim());
            }
            Verdict::Retry(message)
        }
        _ => Verdict::Refused(status, lossy_prefix(&body, MAX_REFUSAL_TEXT)),
    }
}

/// `bytes` as lossy UTF-8, cut at a character boundary to at most `max`
/// bytes of text.
pub fn lossy_prefix(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(max)]);
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(target_arch = "wasm32")]
mod component {
    use super::{Target, Verdict};
    use crate::entrex::plugin::log::{Level, log};
    use crate::exports::entrex::plugin::configurable;
    use crate::exports::entrex::plugin::deliver::{self, Outcome};
    use wasi::http::outgoing_handler;
    use wasi::http::types::{
        ErrorCode, FutureIncomingResponse, IncomingResponse, Method, OutgoingBody, OutgoingRequest,
        RequestOptions, Scheme,
    };
    use wasi::io::streams::StreamError;

    const SECOND: u64 = 1_000_000_000;

    pub struct Plugin;

    impl configurable::Guest for Plugin {
        fn configure(config_json: String) -> Result<(), String> {
            super::check_config(&config_json)
        }
    }

    impl deliver::Guest for Plugin {
        fn send(url: String, bundle: Vec<u8>) -> Outcome {
            log(
                Level::Debug,
                &format!("POST {} bytes to {url}", bundle.len()),
            );
            match deliver(&url, &bundle) {
                Verdict::Receipt(receipt) => {
                    log(
                        Level::Debug,
                        &format!("{url} returned a receipt of {} bytes", receipt.len()),
                    );
                    Outcome::Receipt(receipt)
                }
                Verdict::Refused(status, text) => {
                    let note = if (300..400).contains(&status) {
                        " (redirects are not followed)"
                    } else {
                        ""
                    };
                    log(
                        Level::Warn,
                        &format!("{url} refused the bundle with HTTP {status}{note}"),
                    );
                    Outcome::Refused((status, text))
                }
                Verdict::Retry(why) => {
                    log(Level::Warn, &why);
                    Outcome::Retry(why)
                }
            }
        }
    }

    fn deliver(url: &str, bundle: &[u8]) -> Verdict {
        let target = match super::parse_url(url) {
            Ok(target) => target,
            Err(why) => return Verdict::Retry(format!("cannot send to `{url}`: {why}")),
        };
        let request = match build_request(&target, bundle.len()) {
            Ok(request) => request,
            Err(why) => return Verdict::Retry(format!("cannot send to `{url}`: {why}")),
        };
        let Ok(body) = request.body() else {
            return Verdict::Retry(format!("cannot send to {url}: request body unavailable"));
        };
        // The host drains the body only once the request is handed over, so
        // writing it before `handle` could block forever on a full pipe.
        let future = match outgoing_handler::handle(request, Some(options())) {
            Ok(future) => future,
            Err(code) => {
                return Verdict::Retry(format!("request to {url} failed: {}", describe(&code)));
            }
        };
        let sent = match write_body(&body, bundle) {
            Ok(()) => OutgoingBody::finish(body, None).map_err(|code| describe(&code)),
            Err(why) => {
                // Dropped unfinished, the body makes the host abort the
                // request instead of waiting for the rest of it.
                drop(body);
                Err(why)
            }
        };
        let response = match wait(&future) {
            Ok(response) => response,
            Err(why) => return Verdict::Retry(format!("request to {url} failed: {why}")),
        };
        let status = response.status();
        if let Err(why) = sent {
            // A partner may refuse early (413, say) without reading it all;
            // any other answer to a half-sent bundle says nothing about it.
            if !(400..500).contains(&status) {
                return Verdict::Retry(format!("sending to {url} failed: {why}"));
            }
        }
        match read_body(&response, super::read_limit(status)) {
            Ok(body) => super::judge(url, status, body),
            Err(why) => Verdict::Retry(format!(
                "reading the HTTP {status} answer from {url} failed: {why}"
            )),
        }
    }

    fn build_request(target: &Target<'_>, length: usize) -> Result<OutgoingRequest, String> {
        let headers = wasi::http::types::Fields::from_list(&[
            ("content-type".into(), super::CONTENT_TYPE.into()),
            ("content-length".into(), length.to_string().into()),
        ])
        .map_err(|e| format!("headers refused: {e:?}"))?;
        let request = OutgoingRequest::new(headers);
        let scheme = if target.https {
            Scheme::Https
        } else {
            Scheme::Http
        };
        let invalid = |part: &str| format!("invalid {part}");
        request
            .set_method(&Method::Post)
            .map_err(|()| invalid("method"))?;
        request
            .set_scheme(Some(&scheme))
            .map_err(|()| invalid("scheme"))?;
        request
            .set_authority(Some(target.authority))
            .map_err(|()| invalid("host or port"))?;
        request
            .set_path_with_query(Some(&target.path_with_query))
            .map_err(|()| invalid("path"))?;
        Ok(request)
    }

    /// A host may not support some timeouts (the setter fails); the host's
    /// own defaults then apply, which is acceptable.
    fn options() -> RequestOptions {
        let options = RequestOptions::new();
        let _ = options.set_connect_timeout(Some(5 * SECOND));
        let _ = options.set_first_byte_timeout(Some(30 * SECOND));
        let _ = options.set_between_bytes_timeout(Some(30 * SECOND));
        options
    }

    fn write_body(body: &OutgoingBody, bundle: &[u8]) -> Result<(), String> {
        let stream = body
            .write()
            .map_err(|()| "request body stream unavailable".to_string())?;
        for chunk in bundle.chunks(super::WRITE_CHUNK) {
            // Waits for `check-write` to allow the chunk, writes, flushes.
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| describe_stream(&e))?;
        }
        Ok(())
    }

    fn wait(future: &FutureIncomingResponse) -> Result<IncomingResponse, String> {
        loop {
            match future.get() {
                Some(Ok(Ok(response))) => return Ok(response),
                Some(Ok(Err(code))) => return Err(describe(&code)),
                Some(Err(())) => return Err("the response was already taken".into()),
                None => future.subscribe().block(),
            }
        }
    }

    /// Reads at most `limit` bytes. The stream is dropped before the body and
    /// the body before the response: the host traps on a parent dropped
    /// while its child lives.
    fn read_body(response: &IncomingResponse, limit: usize) -> Result<Vec<u8>, String> {
        let body = response
            .consume()
            .map_err(|()| "the response body was already taken".to_string())?;
        let stream = body
            .stream()
            .map_err(|()| "the response body stream was already taken".to_string())?;
        let mut bytes = Vec::new();
        while bytes.len() < limit {
            let want = (limit - bytes.len()).min(64 << 10);
            match stream.blocking_read(want as u64) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(e) => return Err(describe_stream(&e)),
            }
        }
        Ok(bytes)
    }

    fn describe_stream(error: &StreamError) -> String {
        match error {
            StreamError::Closed => "the connection was closed".into(),
            StreamError::LastOperationFailed(e) => match wasi::http::types::http_error_code(e) {
                Some(code) => describe(&code),
                None => first_line(&e.to_debug_string()),
            },
        }
    }

    /// Host messages may go on with a backtrace (wasmtime under
    /// RUST_BACKTRACE); the first line says what happened.
    fn first_line(message: &str) -> String {
        let line = message.lines().next().unwrap_or_default();
        super::lossy_prefix(line.as_bytes(), super::MAX_RETRY_TEXT)
    }

    fn describe(code: &ErrorCode) -> String {
        match code {
            ErrorCode::DnsTimeout => "DNS lookup timed out".into(),
            ErrorCode::DnsError(e) => format!(
                "DNS lookup failed ({})",
                e.rcode.as_deref().unwrap_or("no response code")
            ),
            ErrorCode::DestinationNotFound => "host not found".into(),
            ErrorCode::DestinationUnavailable => "destination unavailable".into(),
            ErrorCode::ConnectionRefused => "connection refused".into(),
            ErrorCode::ConnectionTerminated => "connection closed unexpectedly".into(),
            ErrorCode::ConnectionTimeout => "timed out connecting".into(),
            ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
                "timed out waiting for the answer".into()
            }
            ErrorCode::ConnectionWriteTimeout => "timed out sending".into(),
            ErrorCode::TlsCertificateError => "TLS certificate not accepted".into(),
            ErrorCode::TlsProtocolError => "TLS handshake failed".into(),
            ErrorCode::TlsAlertReceived(alert) => format!(
                "TLS alert {}",
                alert.alert_message.as_deref().unwrap_or("received")
            ),
            ErrorCode::HttpRequestDenied => {
                "the hub does not allow requests to this destination".into()
            }
            ErrorCode::HttpProtocolError => "HTTP protocol error".into(),
            ErrorCode::InternalError(Some(message)) => first_line(message),
            other => format!("{other:?}"),
        }
    }
}

#[cfg(target_arch = "wasm32")]
wit_bindgen::generate!({ world: "transport", path: "../../wit" });
#[cfg(target_arch = "wasm32")]
use component::Plugin;
#[cfg(target_arch = "wasm32")]
export!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_accepts_only_an_empty_table() {
        assert_eq!(check_config("{}"), Ok(()));
        assert_eq!(check_config(" { } "), Ok(()));
        let err = check_config(r#"{"timeout": 5, "proxy": "x"}"#).unwrap_err();
        assert!(err.contains("`proxy`, `timeout`"), "{err}");
        assert!(check_config("[]").is_err());
        assert!(check_config("").is_err());
    }

    #[test]
    fn urls_split_into_request_parts() {
        let t = parse_url("https://hub.example:8443/v1/bundles?x=1#frag").unwrap();
        assert_eq!(
            t,
            Target {
                https: true,
                authority: "hub.example:8443",
                path_with_query: "/v1/bundles?x=1".into()
            }
        );
        let t = parse_url("HTTP://127.0.0.1:9000").unwrap();
        assert!(!t.https);
        assert_eq!(t.path_with_query, "/");
        assert_eq!(parse_url("http://h?q").unwrap().path_with_query, "/?q");
        assert!(parse_url("ftp://h/").is_err());
        assert!(parse_url("hub.example/bundles").is_err());
        assert!(parse_url("https:///path").is_err());
        assert!(parse_url("https://user:pw@h/").is_err());
    }

    #[test]
    fn statuses_map_to_outcomes() {
        let url = "https://hub.example/b";
        assert_eq!(
            judge(url, 200, b"r".to_vec()),
            Verdict::Receipt(b"r".to_vec())
        );
        assert_eq!(
            judge(url, 200, vec![0; MAX_RECEIPT]),
            Verdict::Receipt(vec![0; MAX_RECEIPT])
        );
        let Verdict::Retry(why) = judge(url, 200, vec![0; read_limit(200)]) else {
            panic!("an oversized receipt must be retried");
        };
        assert!(why.contains("receipt larger than 1 MiB"), "{why}");
        assert_eq!(
            judge(url, 409, b"duplicate bundle".to_vec()),
            Verdict::Refused(409, "duplicate bundle".into())
        );
        assert_eq!(
            judge(url, 301, Vec::new()),
            Verdict::Refused(301, String::new())
        );
        assert_eq!(
            judge(url, 503, b"down for maintenance\n".to_vec()),
            Verdict::Retry(format!("{url} answered HTTP 503: down for maintenance"))
        );
        assert_eq!(
            judge(url, 500, Vec::new()),
            Verdict::Retry(format!("{url} answered HTTP 500"))
        );
    }

    #[test]
    fn refusal_text_is_lossy_and_bounded() {
        assert_eq!(lossy_prefix(b"ok \xff", 10), "ok \u{fffd}");
        let long = "é".repeat(2000);
        let text = lossy_prefix(long.as_bytes(), MAX_REFUSAL_TEXT);
        assert!(text.len() <= MAX_REFUSAL_TEXT);
        assert!(text.chars().all(|c| c == 'é'));
        // A character cut by the read limit is dropped, not replaced, when
        // its replacement would not fit.
        assert_eq!(lossy_prefix("aé".as_bytes(), 2), "a");
        assert!(lossy_prefix(&[0xff; 3000], MAX_REFUSAL_TEXT).len() <= MAX_REFUSAL_TEXT);
    }
}
