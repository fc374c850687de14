//! A normaliser that imports `wasi:http/outgoing-handler`, for the hub's
//! tests only. Only transports may reach the network; the hub does not link
//! wasi:http for normalisers, so it must refuse to load this component.
//!
//! Should a hub load it anyway, `configure` really tries to send
//! `GET http://127.0.0.1:9/` (the discard port). Otherwise it is a minimal
//! normaliser: every non-blank line is a record, and every record is
//! rejected.

wit_bindgen::generate!({ world: "normaliser", path: "../../wit" });

use crate::entrex::plugin::types::{Rejection, SourceRecord};

/// Every non-blank line (CR of a CRLF removed) is one record, `line N`.
pub fn split_batch(batch: &[u8]) -> Result<Vec<SourceRecord>, String> {
    let text = std::str::from_utf8(batch)
        .map_err(|e| format!("the batch is not UTF-8 ({e}); expected lines of text"))?;
    Ok(text
        .split('\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.strip_suffix('\r').unwrap_or(line)))
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| SourceRecord {
            location: format!("line {n}"),
            data: line.as_bytes().to_vec(),
        })
        .collect())
}

/// Every record is refused: this plugin exists only to be refused itself.
pub fn reject(_record: &SourceRecord) -> Rejection {
    Rejection {
        field: None,
        reason: "forbidden-import is a test plugin and accepts no record".to_string(),
    }
}

#[cfg(target_arch = "wasm32")]
mod component {
    use crate::entrex::plugin::log::{Level, log};
    use crate::entrex::plugin::types::{Crossing, Rejection, SourceRecord};
    use crate::exports::entrex::plugin::{configurable, normalise};
    use wasi::http::outgoing_handler;
    use wasi::http::types::{Fields, Method, OutgoingRequest, Scheme};

    pub struct Plugin;

    impl configurable::Guest for Plugin {
        /// Ignores the configuration and calls the forbidden import.
        fn configure(_config_json: String) -> Result<(), String> {
            let message = match phone_home() {
                Ok(()) => "forbidden-import: wasi:http/outgoing-handler accepted a request",
                Err(()) => "forbidden-import: wasi:http/outgoing-handler refused a request",
            };
            log(Level::Warn, message);
            Ok(())
        }
    }

    impl normalise::Guest for Plugin {
        fn split(batch: Vec<u8>) -> Result<Vec<SourceRecord>, String> {
            super::split_batch(&batch)
        }

        fn normalise(records: Vec<SourceRecord>) -> Vec<Result<Crossing, Rejection>> {
            records.iter().map(|r| Err(super::reject(r))).collect()
        }
    }

    /// `GET http://127.0.0.1:9/` through `wasi:http/outgoing-handler.handle`.
    fn phone_home() -> Result<(), ()> {
        let request = OutgoingRequest::new(Fields::new());
        request.set_method(&Method::Get)?;
        request.set_scheme(Some(&Scheme::Http))?;
        request.set_authority(Some("127.0.0.1:9"))?;
        request.set_path_with_query(Some("/"))?;
        outgoing_handler::handle(request, None)
            .map(drop)
            .map_err(drop)
    }
}

#[cfg(target_arch = "wasm32")]
use component::Plugin;
#[cfg(target_arch = "wasm32")]
export!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_rejects_every_record() {
        let records = split_batch(b"a\r\n\nb").unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].location, "line 3");
        assert_eq!(reject(&records[0]).field, None);
    }
}
