//! OAuth 2 endpoints: `/oauth2/authorize` (browser; auto-approves) and
//! `/oauth2/token` (form-encoded; authorization_code with PKCE, and
//! refresh_token).

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{json_ok, query_params};
use crate::auth::{AuthCode, CODE_LIFETIME, ChallengeMethod, RefreshToken};
use crate::emulator::{Emulator, lock};

/// PKCE S256: base64url-no-pad(SHA-256(verifier)).
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636: 43–128 chars of `[A-Za-z0-9._~-]`.
pub fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn error_page(msg: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!doctype html><html><head><title>Dropbox emulator - Error</title></head>\
             <body><h1>Error (400)</h1><p id=\"error\">{}</p></body></html>",
            html_escape(msg)
        )),
    )
        .into_response()
}

/// `GET /oauth2/authorize`: validates the request, approves it at once and
/// shows the code (or redirects to `redirect_uri` with `code` and `state`).
pub async fn authorize(State(emu): State<Emulator>, RawQuery(q): RawQuery) -> Response {
    let p = query_params(q.as_deref());
    let get = |k: &str| p.get(k).map(String::as_str);
    let client_id = get("client_id").unwrap_or_default();
    if client_id != emu.inner.config.app_key {
        return error_page(&format!("Invalid client_id: \"{client_id}\"."));
    }
    match get("response_type") {
        Some("code") => {}
        other => {
            return error_page(&format!(
                "Invalid response_type: \"{}\". This emulator supports \"code\".",
                other.unwrap_or_default()
            ));
        }
    }
    let challenge = match get("code_challenge") {
        None => None,
        Some(c) => {
            if !(43..=128).contains(&c.len()) {
                return error_page("Invalid code_challenge: must be 43-128 characters.");
            }
            // Unsure: Dropbox's default when code_challenge_method is absent;
            // RFC 7636 says "plain".
            let method = match get("code_challenge_method") {
                Some("S256") => ChallengeMethod::S256,
                Some("plain") | None => ChallengeMethod::Plain,
                Some(other) => {
                    return error_page(&format!("Invalid code_challenge_method: \"{other}\"."));
                }
            };
            Some((c.to_owned(), method))
        }
    };
    let offline = match get("token_access_type") {
        Some("offline") => true,
        Some("online") | Some("legacy") | None => false,
        Some(other) => return error_page(&format!("Invalid token_access_type: \"{other}\".")),
    };
    let scopes: Vec<String> = match get("scope") {
        Some(s) if !s.trim().is_empty() => s.split_whitespace().map(str::to_owned).collect(),
        _ => emu.inner.config.scopes.clone(),
    };
    let redirect_uri = get("redirect_uri").map(str::to_owned);
    let code = emu.random_string(32);
    lock(&emu.inner.tokens).codes.insert(
        code.clone(),
        AuthCode {
            client_id: client_id.to_owned(),
            challenge,
            redirect_uri: redirect_uri.clone(),
            offline,
            scopes,
            issued: Instant::now(),
        },
    );
    tracing::info!("oauth: authorization auto-approved");
    if let Some(uri) = redirect_uri {
        let mut location = uri.clone();
        location.push(if uri.contains('?') { '&' } else { '?' });
        let mut ser = form_urlencoded::Serializer::new(String::new());
        ser.append_pair("code", &code);
        if let Some(state) = get("state") {
            ser.append_pair("state", state);
        }
        location.push_str(&ser.finish());
        return match HeaderValue::from_str(&location) {
            Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
            Err(_) => error_page("Invalid redirect_uri."),
        };
    }
    Html(format!(
        "<!doctype html><html><head><title>Dropbox emulator - API Request Authorized</title></head>\
         <body><h1>API Request Authorized</h1>\
         <p>Enter this code into your app to complete the process:</p>\
         <p><code id=\"code\" data-code=\"{c}\">{c}</code></p>\
         <p>(dropbox-emulator approved this request automatically.)</p></body></html>",
        c = html_escape(&code)
    ))
    .into_response()
}

fn oauth_error(error: &str, description: &str) -> Response {
    let mut resp = json_ok(&json!({"error": error, "error_description": description}));
    *resp.status_mut() = StatusCode::BAD_REQUEST;
    resp
}

/// Client credentials from HTTP Basic auth, if present.
fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = STANDARD.decode(b64.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// `POST /oauth2/token`.
pub async fn token(State(emu): State<Emulator>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let basic = basic_auth(&headers);
    let client_id = basic
        .as_ref()
        .map(|(id, _)| id.as_str())
        .or_else(|| get("client_id"))
        .unwrap_or_default()
        .to_owned();
    let client_secret = basic
        .as_ref()
        .map(|(_, s)| s.as_str())
        .or_else(|| get("client_secret"))
        .map(str::to_owned);
    let config = &emu.inner.config;
    if client_id != config.app_key {
        return oauth_error("invalid_client", "Invalid client_id or client_secret");
    }
    if let (Some(given), Some(expected)) = (&client_secret, &config.app_secret)
        && given != expected
    {
        return oauth_error("invalid_client", "Invalid client_id or client_secret");
    }
    match get("grant_type") {
        Some("authorization_code") => {
            let Some(code) = get("code") else {
                return oauth_error("invalid_request", "No auth code provided");
            };
            // A code is single-use: taken out whether or not the exchange works.
            let Some(auth) = lock(&emu.inner.tokens).codes.remove(code) else {
                return oauth_error("invalid_grant", "code doesn't exist or has expired");
            };
            if auth.issued.elapsed() > CODE_LIFETIME || auth.client_id != client_id {
                return oauth_error("invalid_grant", "code doesn't exist or has expired");
            }
            if auth.redirect_uri.as_deref() != get("redirect_uri") && auth.redirect_uri.is_some() {
                return oauth_error("invalid_grant", "redirect_uri mismatch");
            }
            match &auth.challenge {
                Some((challenge, method)) => {
                    let Some(verifier) = get("code_verifier") else {
                        return oauth_error("invalid_request", "No code_verifier provided");
                    };
                    if !valid_verifier(verifier) {
                        return oauth_error("invalid_grant", "invalid code verifier");
                    }
                    let computed = match method {
                        ChallengeMethod::S256 => s256_challenge(verifier),
                        ChallengeMethod::Plain => verifier.to_owned(),
                    };
                    if &computed != challenge {
                        return oauth_error("invalid_grant", "invalid code verifier");
                    }
                }
                None => {
                    if client_secret.is_none() && config.app_secret.is_some() {
                        return oauth_error("invalid_client", "No client_secret provided");
                    }
                }
            }
            let refresh = auth.offline.then(|| {
                let r = emu.random_string(48);
                lock(&emu.inner.tokens).refresh.insert(
                    r.clone(),
                    RefreshToken {
                        client_id: client_id.clone(),
                        scopes: auth.scopes.clone(),
                        revoked: false,
                    },
                );
                r
            });
            let access = emu.mint_token_with(Some(auth.scopes.clone()), None, refresh.clone());
            let mut body = json!({
                "access_token": access,
                "token_type": "bearer",
                "expires_in": config.token_lifetime.as_secs(),
                "scope": auth.scopes.join(" "),
                "uid": config.uid,
                "account_id": config.account_id,
            });
            if let Some(r) = refresh {
                body["refresh_token"] = json!(r);
            }
            json_ok(&body)
        }
        Some("refresh_token") => {
            let Some(refresh) = get("refresh_token") else {
                return oauth_error("invalid_request", "No refresh token provided");
            };
            let scopes = {
                let tokens = lock(&emu.inner.tokens);
                match tokens.refresh.get(refresh) {
                    Some(r) if !r.revoked && r.client_id == client_id => r.scopes.clone(),
                    _ => {
                        return oauth_error("invalid_grant", "refresh token is invalid or revoked");
                    }
                }
            };
            // `scope` asks for a subset of the granted scopes (the SDKs'
            // `scope=` on refresh); the answer then names the scopes given.
            let narrowed: Option<Vec<String>> = get("scope")
                .map(|s| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
                .filter(|s| !s.is_empty());
            if let Some(asked) = &narrowed
                && let Some(extra) = asked.iter().find(|s| !scopes.contains(s))
            {
                // Unsure: Dropbox's exact error for a scope not granted.
                return oauth_error(
                    "invalid_scope",
                    &format!("scope \"{extra}\" was not granted to this refresh token"),
                );
            }
            let granted = narrowed.clone().unwrap_or(scopes);
            let access = emu.mint_token_with(Some(granted), None, Some(refresh.to_owned()));
            // No new refresh token: the old one stays valid.
            let mut body = json!({
                "access_token": access,
                "token_type": "bearer",
                "expires_in": config.token_lifetime.as_secs(),
            });
            if let Some(asked) = narrowed {
                body["scope"] = json!(asked.join(" "));
            }
            json_ok(&body)
        }
        Some(other) => oauth_error(
            "unsupported_grant_type",
            &format!("grant_type \"{other}\" is not supported"),
        ),
        None => oauth_error("invalid_request", "No grant_type provided"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        // RFC 7636 Appendix B.
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(valid_verifier(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(!valid_verifier("short"));
        assert!(!valid_verifier(&"a b".repeat(20)));
    }
}
