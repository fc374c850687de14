//! Who may call which endpoint: credentials (bearer tokens stored as SHA-256
//! hashes in the config, or client certificates), roles, and the policy that
//! maps each route to the one role it needs.
//!
//! Least privilege: a source system can only post and withdraw crossings, a
//! partner hub only deliver bundles, an analyst only read reports and (with a
//! stated purpose) personal data, an operator only run the hub. A credential
//! may carry several roles. Every request needs a credential, `/healthz`
//! included; a route missing from [`policy`] is refused, so a new endpoint is
//! closed until someone decides who may call it.
//!
//! One exception, and only one: the operators' dashboard's static files
//! (`/dashboard` and its script, style and icon, [`crate::dashboard`]) are
//! [`Policy::public`], served without a credential, because a browser cannot
//! send a bearer token when it navigates to a page. They are constants
//! compiled into the binary and hold no data: the page's script asks the
//! operator for a token and fetches `/v1/status` and `/v1/report/breakdown`
//! with it, like any other client. No other route may be public.

use std::collections::HashMap;
use std::path::PathBuf;

use hyper::Method;
use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A port-of-entry system posting crossings.
    Source,
    /// The partner country's hub delivering bundles (always a pinned certificate).
    Partner,
    /// Reads reports and, with a purpose, one person's records.
    Analyst,
    /// Runs the hub: status, quarantine, plugin reloads, audit.
    Operator,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Source => "source",
            Role::Partner => "partner",
            Role::Analyst => "analyst",
            Role::Operator => "operator",
        })
    }
}

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The role the caller must hold; `None`: any authenticated caller.
    pub role: Option<Role>,
    /// The route returns personal data: a `purpose` is required and the read
    /// is audited.
    pub personal_data: bool,
    /// The route changes the hub's state or configuration: audited.
    pub administrative: bool,
    /// No credential is asked for. Only the dashboard's static files, which
    /// hold no data (see the module's documentation).
    pub public: bool,
}

const fn needs(role: Role) -> Policy {
    Policy {
        role: Some(role),
        personal_data: false,
        administrative: false,
        public: false,
    }
}

/// Static content with no data, for anyone.
const PUBLIC: Policy = Policy {
    role: None,
    personal_data: false,
    administrative: false,
    public: true,
};

/// The policy of every route the hub serves. `None` for a route it does not
/// know (answered 404/405 by the router, never reached unauthenticated).
pub fn policy(method: &Method, path: &str) -> Option<Policy> {
    let personal = |role| Policy {
        personal_data: true,
        ..needs(role)
    };
    let admin = |role| Policy {
        administrative: true,
        ..needs(role)
    };
    Some(match (method.as_str(), path) {
        ("POST", "/v1/crossings") => needs(Role::Source),
        ("POST", "/v1/crossings/withdrawals") => admin(Role::Source),
        ("POST", "/v1/partner/bundles") => needs(Role::Partner),
        ("GET", "/v1/status") => needs(Role::Operator),
        ("GET", "/v1/report") => needs(Role::Analyst),
        ("GET", "/v1/report/breakdown") => needs(Role::Analyst),
        // Whole source records, as the plugin failed on them.
        ("GET", "/v1/quarantine") => personal(Role::Operator),
        ("POST", "/v1/quarantine/retry") => admin(Role::Operator),
        ("POST", "/v1/plugins/reload") => admin(Role::Operator),
        ("POST", "/v1/retention/purge") => admin(Role::Operator),
        // A refused bundle's entries, as the partner refused them.
        ("GET", "/v1/exchange/refused") => personal(Role::Operator),
        ("POST", "/v1/exchange/set-aside") => admin(Role::Operator),
        ("GET", "/v1/persons/export") => personal(Role::Analyst),
        // Entries past their stay, list matches, one person's trips.
        ("GET", "/v1/overstays") => personal(Role::Analyst),
        ("GET", "/v1/removal-orders/flags") => personal(Role::Analyst),
        ("POST", "/v1/removal-orders/flags/decision") => admin(Role::Analyst),
        ("GET", "/v1/travel-history") => personal(Role::Analyst),
        // Pairs in clerical review, both records; a decision is recorded
        // with who and why.
        ("GET", "/v1/matches/review") => personal(Role::Analyst),
        ("POST", "/v1/matches/review/decision") => Policy {
            administrative: true,
            ..personal(Role::Analyst)
        },
        // Every exit with what matching decided: for the analytics export.
        ("GET", "/v1/ledger/matches") => personal(Role::Analyst),
        ("GET", "/v1/audit") => personal(Role::Operator),
        // Liveness and readiness: any authenticated caller (a load
        // balancer's token needs no role).
        ("GET", "/healthz" | "/readyz") => Policy {
            role: None,
            personal_data: false,
            administrative: false,
            public: false,
        },
        // Counters per partner and plugin: what operators see in the status.
        ("GET", "/metrics") => needs(Role::Operator),
        // The dashboard's page, script, style and icon: constants, no data.
        ("GET", path) if crate::dashboard::asset(path).is_some() => PUBLIC,
        _ => return None,
    })
}

/// Someone authenticated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// As configured (`[[access.token]] name`), or the partner's hub id.
    pub name: String,
    pub roles: Vec<Role>,
    /// "token", "client certificate", or "anonymous (development)".
    pub via: String,
}

impl Principal {
    pub fn may(&self, policy: &Policy) -> bool {
        policy.role.is_none_or(|r| self.roles.contains(&r))
    }
}

/// Why a request is refused: 401 (who are you?) or 403 (not you).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Denied {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
}

/// A token as configured: only its hash is kept.
#[derive(Clone, Debug)]
pub struct TokenEntry {
    pub name: String,
    pub roles: Vec<Role>,
    pub sha256: [u8; 32],
}

/// A client certificate as configured.
#[derive(Clone, Debug)]
pub struct CertEntry {
    pub name: String,
    pub roles: Vec<Role>,
    pub cert: PathBuf,
}

/// The credentials a hub accepts, loaded from `[access]`.
pub struct Access {
    tokens: HashMap<[u8; 32], (String, Vec<Role>)>,
    certs: Vec<(CertificateDer<'static>, String, Vec<Role>)>,
    allow_anonymous: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("[[access.client_cert]] {name}: {detail}")]
    Cert { name: String, detail: String },
}

impl Access {
    pub fn load(
        tokens: &[TokenEntry],
        certs: &[CertEntry],
        allow_anonymous: bool,
    ) -> Result<Access, AccessError> {
        // The partner role comes only from a partner's pinned certificate
        // (`partner_for`). The config loader refuses it on these entries; it
        // is dropped here too, so no other way of building the entries can
        // let a bearer token or an operator's certificate deliver bundles.
        let granted = |roles: &[Role]| -> Vec<Role> {
            roles
                .iter()
                .copied()
                .filter(|r| *r != Role::Partner)
                .collect()
        };
        let mut loaded = Vec::new();
        for c in certs {
            let der = crate::tls::load_pinned(&c.cert).map_err(|e| AccessError::Cert {
                name: c.name.clone(),
                detail: e.to_string(),
            })?;
            loaded.push((der, c.name.clone(), granted(&c.roles)));
        }
        Ok(Access {
            tokens: tokens
                .iter()
                .map(|t| (t.sha256, (t.name.clone(), granted(&t.roles))))
                .collect(),
            certs: loaded,
            allow_anonymous,
        })
    }

    /// Finds who is calling. A bearer token, if sent, decides (a wrong one
    /// is refused, not passed over); else the client certificate, a partner's
    /// pinned one or one listed in `[access]`.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        peer_cert: Option<&CertificateDer<'_>>,
        partner_for: impl Fn(&CertificateDer<'_>) -> Option<String>,
    ) -> Result<Principal, Denied> {
        if let Some(header) = authorization {
            let Some(token) = header.strip_prefix("Bearer ").map(str::trim) else {
                return Err(Denied::Unauthenticated(
                    "the Authorization header must be `Bearer TOKEN`".into(),
                ));
            };
            let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            return match self.tokens.get(&hash) {
                Some((name, roles)) => Ok(Principal {
                    name: name.clone(),
                    roles: roles.clone(),
                    via: "token".into(),
                }),
                None => Err(Denied::Unauthenticated(
                    "the bearer token is not one this hub knows (its SHA-256 is not under [[access.token]]); ask the hub's operators for a token".into(),
                )),
            };
        }
        if let Some(cert) = peer_cert {
            if let Some(partner) = partner_for(cert) {
                return Ok(Principal {
                    name: partner,
                    roles: vec![Role::Partner],
                    via: "client certificate".into(),
                });
            }
            if let Some((_, name, roles)) = self.certs.iter().find(|(c, ..)| c == cert) {
                return Ok(Principal {
                    name: name.clone(),
                    roles: roles.clone(),
                    via: "client certificate".into(),
                });
            }
            return Err(Denied::Unauthenticated(format!(
                "the TLS client certificate presented (SHA-256 {}…) is not the one pinned for any partner (tls_cert under [[partner]]) nor listed under [[access.client_cert]]; nothing was done",
                crate::tls::fingerprint(cert)
            )));
        }
        if self.allow_anonymous {
            return Ok(Principal {
                name: "anonymous".into(),
                roles: vec![Role::Source, Role::Partner, Role::Analyst, Role::Operator],
                via: "anonymous (development)".into(),
            });
        }
        Err(Denied::Unauthenticated(
            "no credential: send `Authorization: Bearer TOKEN` (tokens from `entrex token`) or present a client certificate listed in [access]; partner hubs present their pinned certificate".into(),
        ))
    }

    /// Authenticates and checks the route's policy.
    pub fn authorize(
        &self,
        policy: &Policy,
        what: &str,
        authorization: Option<&str>,
        peer_cert: Option<&CertificateDer<'_>>,
        partner_for: impl Fn(&CertificateDer<'_>) -> Option<String>,
    ) -> Result<Principal, (Option<Principal>, Denied)> {
        let principal = self
            .authenticate(authorization, peer_cert, partner_for)
            .map_err(|d| (None, d))?;
        if principal.may(policy) {
            return Ok(principal);
        }
        let needed = policy.role.map(|r| r.to_string()).unwrap_or_default();
        let held: Vec<String> = principal.roles.iter().map(Role::to_string).collect();
        let why = format!(
            "{what} needs the {needed} role; {} ({}) holds {}",
            principal.name,
            principal.via,
            if held.is_empty() {
                "none".to_owned()
            } else {
                held.join(", ")
            }
        );
        Err((Some(principal), Denied::Forbidden(why)))
    }
}

/// A new random token (256 bits, hex) and the SHA-256 to put in the config.
pub fn new_token() -> (String, String) {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    (token, hash)
}

/// The purpose stated for a personal-data request (`?purpose=`), checked.
pub fn purpose(query: Option<&str>) -> Result<String, String> {
    let purpose = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "purpose")
        .map(|(_, v)| percent_decode(v))
        .unwrap_or_default();
    let purpose = purpose.trim();
    if purpose.len() < 3 || purpose.len() > 200 || purpose.chars().any(char::is_control) {
        return Err(
            "this request returns personal data: state why with ?purpose=… (3 to 200 characters, e.g. purpose=overstay%20case%202026-114); it is recorded in the audit log".into(),
        );
    }
    Ok(purpose.to_owned())
}

/// Decodes `%XX` and `+` in a query value (lossy on invalid UTF-8).
pub fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> (Access, String) {
        let (token, hash) = new_token();
        let mut sha = [0u8; 32];
        sha.copy_from_slice(&hex::decode(hash).unwrap());
        let access = Access::load(
            &[TokenEntry {
                name: "cbsa".into(),
                roles: vec![Role::Source],
                sha256: sha,
            }],
            &[],
            false,
        )
        .unwrap();
        (access, token)
    }

    #[test]
    fn a_token_authenticates_only_for_its_roles() {
        let (access, token) = access();
        let header = format!("Bearer {token}");
        let post = policy(&Method::POST, "/v1/crossings").unwrap();
        let who = access
            .authorize(&post, "POST /v1/crossings", Some(&header), None, |_| None)
            .unwrap();
        assert_eq!(who.name, "cbsa");
        let status = policy(&Method::GET, "/v1/status").unwrap();
        let (_, denied) = access
            .authorize(&status, "GET /v1/status", Some(&header), None, |_| None)
            .unwrap_err();
        assert!(
            matches!(&denied, Denied::Forbidden(m) if m.contains("needs the operator role") && m.contains("cbsa (token) holds source")),
            "{denied}"
        );
        let (_, denied) = access
            .authorize(&post, "x", Some("Bearer nope"), None, |_| None)
            .unwrap_err();
        assert!(matches!(denied, Denied::Unauthenticated(_)));
        let (_, denied) = access
            .authorize(&post, "x", None, None, |_| None)
            .unwrap_err();
        assert!(matches!(&denied, Denied::Unauthenticated(m) if m.contains("no credential")));
    }

    /// Defence in depth behind the config loader: even a token entry that
    /// lists the partner role never delivers bundles; only a partner's
    /// pinned certificate does.
    #[test]
    fn a_token_never_grants_the_partner_role() {
        let (token, hash) = new_token();
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&hex::decode(hash).unwrap());
        let access = Access::load(
            &[TokenEntry {
                name: "smuggled".into(),
                roles: vec![Role::Partner, Role::Source],
                sha256,
            }],
            &[],
            false,
        )
        .unwrap();
        let header = format!("Bearer {token}");
        let deliver = policy(&Method::POST, "/v1/partner/bundles").unwrap();
        let (_, denied) = access
            .authorize(
                &deliver,
                "POST /v1/partner/bundles",
                Some(&header),
                None,
                |_| None,
            )
            .unwrap_err();
        assert!(
            matches!(&denied, Denied::Forbidden(m) if m.contains("needs the partner role")),
            "{denied}"
        );
        // The token's other roles still work.
        let post = policy(&Method::POST, "/v1/crossings").unwrap();
        assert!(
            access
                .authorize(&post, "x", Some(&header), None, |_| None)
                .is_ok()
        );
    }

    #[test]
    fn purposes_are_required_and_decoded() {
        assert!(purpose(None).is_err());
        assert!(purpose(Some("from=1&purpose=ab")).is_err());
        assert_eq!(
            purpose(Some("from=1&purpose=case%20114+review")).unwrap(),
            "case 114 review"
        );
    }

    #[test]
    fn only_the_dashboards_static_files_are_public() {
        for (path, _) in crate::dashboard::ASSETS {
            let p = policy(&Method::GET, path).unwrap();
            assert!(p.public && p.role.is_none(), "{path}");
            assert!(!p.personal_data && !p.administrative);
            assert!(policy(&Method::POST, path).is_none(), "{path}");
        }
        for path in [
            "/v1/status",
            "/v1/report",
            "/v1/report/breakdown",
            "/healthz",
            "/dashboard/",
            "/dashboard/../v1/status",
            "/dashboard/other.js",
        ] {
            assert!(
                policy(&Method::GET, path).is_none_or(|p| !p.public),
                "{path} must not be public"
            );
        }
    }

    #[test]
    fn unknown_routes_have_no_policy() {
        assert!(policy(&Method::GET, "/v1/secret").is_none());
        assert!(policy(&Method::DELETE, "/v1/crossings").is_none());
    }
}
