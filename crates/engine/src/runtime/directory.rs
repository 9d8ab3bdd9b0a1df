//! Where the directory comes from: the API (users arrive through the connector), a URL
//! answering the JSON user array, or a JSON file.

use std::path::PathBuf;
use std::time::Duration;

use exbridge_config::{DirectoryConfig, DirectorySource as Kind};
use exbridge_store::DirectoryUser;

/// The configured directory source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectorySource {
    /// Users come through [`crate::api::Connector`] (`PUT/POST/DELETE /api/v1/users`).
    Api,
    /// `GET` answering the JSON user array.
    Url(url::Url),
    /// A file holding the JSON user array.
    File(PathBuf),
}

impl DirectorySource {
    /// From `[directory]` (the configuration crate checked that `url`/`file` go with their
    /// source).
    pub fn from_config(cfg: &DirectoryConfig) -> Result<DirectorySource, String> {
        match cfg.source {
            Kind::Api => Ok(DirectorySource::Api),
            Kind::Url => cfg
                .url
                .clone()
                .map(DirectorySource::Url)
                .ok_or_else(|| "directory source url needs directory.url".to_owned()),
            Kind::File => cfg
                .file
                .clone()
                .map(DirectorySource::File)
                .ok_or_else(|| "directory source file needs directory.file".to_owned()),
        }
    }

    /// Whether the engine loads the directory itself (url, file).
    pub fn is_pulled(&self) -> bool {
        !matches!(self, DirectorySource::Api)
    }

    /// Loads the whole directory; `None` for the API source.
    pub async fn load(&self) -> Option<Result<Vec<DirectoryUser>, String>> {
        match self {
            DirectorySource::Api => None,
            DirectorySource::Url(url) => Some(load_url(url).await),
            DirectorySource::File(path) => Some(load_file(path).await),
        }
    }
}

fn parse(bytes: &[u8], from: &str) -> Result<Vec<DirectoryUser>, String> {
    let users: Vec<DirectoryUser> =
        serde_json::from_slice(bytes).map_err(|e| format!("directory from {from} is not a JSON user array: {e}"))?;
    let mut seen = std::collections::HashSet::new();
    for user in &users {
        if user.id.as_str().is_empty() {
            return Err(format!("directory from {from}: a user has an empty id"));
        }
        if !seen.insert(user.id.clone()) {
            return Err(format!("directory from {from}: user {} appears twice", user.id));
        }
    }
    Ok(users)
}

async fn load_file(path: &std::path::Path) -> Result<Vec<DirectoryUser>, String> {
    let from = path.display().to_string();
    let bytes = tokio::fs::read(path).await.map_err(|e| format!("cannot read the directory file {from}: {e}"))?;
    parse(&bytes, &from)
}

async fn load_url(url: &url::Url) -> Result<Vec<DirectoryUser>, String> {
    // The URL may carry credentials: only scheme, host and path are ever shown.
    let shown = format!("{}://{}{}", url.scheme(), url.host_str().unwrap_or(""), url.path());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| format!("directory client: {e}"))?;
    let response = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("GET {shown} failed: {}", e.without_url()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("GET {shown} answered {status}"));
    }
    let bytes =
        response.bytes().await.map_err(|e| format!("GET {shown}: reading the body failed: {}", e.without_url()))?;
    parse(&bytes, &shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_source_loads_and_rejects_bad_content() {
        let dir = std::env::temp_dir().join(format!("exbridge-dir-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.json");
        std::fs::write(&path, r#"[{"id":"u1","work_email":"a@contoso.test"},{"id":"u2"}]"#).unwrap();
        let source = DirectorySource::File(path.clone());
        let users = source.load().await.unwrap().unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].work_email.as_deref(), Some("a@contoso.test"));

        std::fs::write(&path, r#"[{"id":"u1"},{"id":"u1"}]"#).unwrap();
        let err = source.load().await.unwrap().unwrap_err();
        assert!(err.contains("appears twice"), "{err}");
        std::fs::write(&path, "{}").unwrap();
        assert!(source.load().await.unwrap().is_err());
        assert!(DirectorySource::Api.load().await.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
