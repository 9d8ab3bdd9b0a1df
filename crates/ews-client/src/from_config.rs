//! From the contract configuration (`[[exchange]]`, `exbridge_config::ExchangeConfig`) to the
//! client's settings: [`ServerConfig`], [`AutodiscoverConfig`], [`StreamingConfig`].

use exbridge_config::{AuthMethod, ExchangeConfig};
use secrecy::SecretString;
use url::Url;

use crate::autodiscover::AutodiscoverConfig;
use crate::config::{AuthConfig, OAuth2Config, ProxyConfig, ServerConfig};
use crate::error::{ErrorClass, ErrorKind, EwsError};
use crate::streaming::StreamingConfig;

fn config_error(x: &ExchangeConfig, msg: impl Into<String>) -> EwsError {
    EwsError::new(ErrorClass::Fatal, ErrorKind::Config, msg).in_context(&x.name, "configuration", None)
}

/// The account of `[[exchange]]`: `auth` with `username`/`password` or the OAuth2 keys.
pub fn auth_config(x: &ExchangeConfig) -> Result<AuthConfig, EwsError> {
    let user_pass = || -> Result<(String, SecretString), EwsError> {
        let username = x.username.clone().ok_or_else(|| config_error(x, "username is missing"))?;
        let password = x.password.as_ref().ok_or_else(|| config_error(x, "password is missing"))?;
        Ok((username, SecretString::from(password.expose().to_string())))
    };
    Ok(match x.auth {
        AuthMethod::Basic => {
            let (username, password) = user_pass()?;
            AuthConfig::Basic { username, password }
        }
        AuthMethod::Ntlm => {
            let (username, password) = user_pass()?;
            AuthConfig::Ntlm { username, password }
        }
        AuthMethod::OAuth2 => {
            let o = x
                .oauth2
                .as_ref()
                .ok_or_else(|| config_error(x, "token_url, client_id and client_secret are missing"))?;
            AuthConfig::OAuth2(OAuth2Config {
                token_url: o.token_url.clone(),
                client_id: o.client_id.clone(),
                client_secret: SecretString::from(o.client_secret.expose().to_string()),
                scope: o.scope.clone(),
            })
        }
    })
}

fn proxy(x: &ExchangeConfig) -> Result<Option<ProxyConfig>, EwsError> {
    x.proxy.as_ref().map(|p| ProxyConfig::parse(p.as_str()).map_err(|e| config_error(x, e))).transpose()
}

impl ServerConfig {
    /// The client settings of a configured server, with its EWS URL (configured, or found by
    /// Autodiscover).
    pub fn from_exchange(x: &ExchangeConfig, ews_url: Url) -> Result<ServerConfig, EwsError> {
        let mut c = ServerConfig::new(x.name.clone(), ews_url, auth_config(x)?);
        c.impersonation = x.impersonation;
        c.server_version = x.server_version;
        c.ca_files = x.ca_file.iter().cloned().collect();
        c.proxy = proxy(x)?;
        c.max_concurrency = x.max_concurrency.max(1) as usize;
        Ok(c)
    }
}

impl TryFrom<&ExchangeConfig> for ServerConfig {
    type Error = EwsError;

    /// Needs `ews_url`; a server configured with `autodiscover_email` only goes through
    /// Autodiscover first ([`AutodiscoverConfig::from_exchange`], then
    /// [`ServerConfig::from_exchange`]).
    fn try_from(x: &ExchangeConfig) -> Result<Self, Self::Error> {
        let url = x
            .ews_url
            .clone()
            .ok_or_else(|| config_error(x, "ews_url is not set: run Autodiscover for autodiscover_email first"))?;
        ServerConfig::from_exchange(x, url)
    }
}

impl AutodiscoverConfig {
    /// Autodiscover with the server's account, CA file and proxy; `autodiscover_url` when set.
    pub fn from_exchange(x: &ExchangeConfig) -> Result<AutodiscoverConfig, EwsError> {
        let mut c = AutodiscoverConfig::new(x.name.clone(), auth_config(x)?);
        c.ca_files = x.ca_file.iter().cloned().collect();
        c.proxy = proxy(x)?;
        c.url = x.autodiscover_url.clone();
        Ok(c)
    }
}

impl StreamingConfig {
    /// The streaming defaults with the server's `max_streaming_connections`.
    pub fn from_exchange(x: &ExchangeConfig) -> StreamingConfig {
        StreamingConfig {
            max_connections_per_account: x.max_streaming_connections.max(1) as usize,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const TOML: &str = r#"
[server]
api_tokens = ["0123456789abcdef"]
[[exchange]]
name = "primary"
ews_url = "https://mail.contoso.test/EWS/Exchange.asmx"
auth = "ntlm"
username = "CONTOSO\\svc"
password = "s3cret"
impersonation = false
server_version = "Exchange2013_SP1"
proxy = "http://user:pw@proxy.contoso.test:3128"
max_concurrency = 4
max_streaming_connections = 3
[[exchange]]
name = "online"
autodiscover_email = "svc@contoso.com"
autodiscover_url = "https://autodiscover.contoso.com/autodiscover/autodiscover.svc"
auth = "oauth2"
token_url = "https://login.example/token"
client_id = "app"
client_secret = "shh"
"#;

    #[test]
    fn exchange_sections_map_to_client_settings() {
        let cfg = exbridge_config::Config::from_toml_str(TOML, &[]).unwrap();
        let c = ServerConfig::try_from(&cfg.exchange[0]).unwrap();
        assert_eq!(c.name, "primary");
        assert_eq!(c.ews_url.as_str(), "https://mail.contoso.test/EWS/Exchange.asmx");
        assert!(!c.impersonation);
        assert_eq!(c.server_version.as_str(), "Exchange2013_SP1");
        assert_eq!(c.max_concurrency, 4);
        let p = c.proxy.as_ref().unwrap();
        assert_eq!((p.url.as_str(), p.username.as_deref()), ("http://proxy.contoso.test:3128/", Some("user")));
        let AuthConfig::Ntlm { username, password } = &c.auth else { panic!("{:?}", c.auth) };
        assert_eq!((username.as_str(), password.expose_secret()), ("CONTOSO\\svc", "s3cret"));
        assert_eq!(StreamingConfig::from_exchange(&cfg.exchange[0]).max_connections_per_account, 3);

        let online = &cfg.exchange[1];
        let e = ServerConfig::try_from(online).unwrap_err();
        assert!(e.to_string().contains("Autodiscover"), "{e}");
        let a = AutodiscoverConfig::from_exchange(online).unwrap();
        assert_eq!(a.url.unwrap().as_str(), "https://autodiscover.contoso.com/autodiscover/autodiscover.svc");
        let AuthConfig::OAuth2(o) = &a.auth else { panic!() };
        assert_eq!((o.client_id.as_str(), o.client_secret.expose_secret()), ("app", "shh"));
        assert_eq!(o.scope, "https://outlook.office365.com/.default");
        assert_eq!(StreamingConfig::from_exchange(online).max_connections_per_account, 10);
    }
}
