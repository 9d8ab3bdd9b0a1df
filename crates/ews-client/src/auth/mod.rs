//! Authentication: Basic, NTLM (per connection, see [`ntlm`]) and OAuth2 client credentials
//! (see [`oauth`]).

pub(crate) mod ntlm;
pub(crate) mod oauth;

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

/// `Basic base64(user:password)`.
pub(crate) fn basic_header(username: &str, password: &SecretString) -> SecretString {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{}", password.expose_secret()));
    SecretString::from(format!("Basic {token}"))
}

/// The challenge token of `scheme` in the `WWW-Authenticate` headers, if the server sent that
/// scheme: `Some(None)` for a bare `NTLM`, `Some(Some(bytes))` for `NTLM <base64>`.
pub(crate) fn challenge(headers: &http::HeaderMap, scheme: &str) -> Option<Option<Vec<u8>>> {
    for value in headers.get_all(http::header::WWW_AUTHENTICATE) {
        let Ok(value) = value.to_str() else { continue };
        // Several challenges may share one header, separated by commas; NTLM/Negotiate tokens
        // are base64 and contain no commas.
        for part in value.split(',') {
            let part = part.trim();
            let (name, rest) = part.split_once(' ').unwrap_or((part, ""));
            if name.eq_ignore_ascii_case(scheme) {
                let rest = rest.trim();
                if rest.is_empty() {
                    return Some(None);
                }
                return Some(base64::engine::general_purpose::STANDARD.decode(rest).ok());
            }
        }
    }
    None
}

/// The schemes a 401 offered, for error messages (`NTLM, Negotiate`).
pub(crate) fn offered_schemes(headers: &http::HeaderMap) -> String {
    let mut out: Vec<String> = Vec::new();
    for value in headers.get_all(http::header::WWW_AUTHENTICATE) {
        let Ok(value) = value.to_str() else { continue };
        for part in value.split(',') {
            let name = part.trim().split(' ').next().unwrap_or_default();
            // Parameters of a Basic/Bearer challenge (realm="…") contain '='.
            if !name.is_empty() && !name.contains('=') && !out.iter().any(|o| o.eq_ignore_ascii_case(name)) {
                out.push(name.to_string());
            }
        }
    }
    if out.is_empty() { "none".to_string() } else { out.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_found() {
        let mut h = http::HeaderMap::new();
        h.append(http::header::WWW_AUTHENTICATE, "Negotiate".parse().unwrap());
        h.append(http::header::WWW_AUTHENTICATE, "NTLM TlRMTVNTUAAC".parse().unwrap());
        h.append(http::header::WWW_AUTHENTICATE, "Basic realm=\"mail\"".parse().unwrap());
        assert_eq!(challenge(&h, "negotiate"), Some(None));
        assert_eq!(challenge(&h, "NTLM"), Some(Some(b"NTLMSSP\0\x02".to_vec())));
        assert_eq!(challenge(&h, "Bearer"), None);
        assert_eq!(offered_schemes(&h), "Negotiate, NTLM, Basic");
    }

    #[test]
    fn basic_header_encodes() {
        let h = basic_header("svc@contoso.test", &SecretString::from("secret"));
        assert_eq!(h.expose_secret(), "Basic c3ZjQGNvbnRvc28udGVzdDpzZWNyZXQ=");
    }
}
