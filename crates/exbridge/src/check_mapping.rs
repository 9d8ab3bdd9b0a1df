//! `exbridge check-mapping`: for every directory user (or one), which identifier matched a
//! mailbox, or why none did. Read-only: nothing is stored, nothing is subscribed. Exit 0 even
//! when some users don't match; 1 when the directory or Exchange cannot be reached at all;
//! 2 for a configuration error.

use std::process::ExitCode;

use exbridge_config::Config;
use exbridge_engine::resolve::resolve_mailbox;
use exbridge_engine::runtime::context_from_config;
use exbridge_engine::runtime::directory::DirectorySource;
use exbridge_store::{AttemptOutcome, DirectoryUser, MailboxStatus};

pub async fn run(config: Config, only: Option<String>) -> anyhow::Result<ExitCode> {
    let source = DirectorySource::from_config(&config.directory).map_err(anyhow::Error::msg)?;
    // The API source keeps its directory in the store; url/file are read now.
    let key = config.store.encryption_key.as_ref().map(|k| exbridge_store::StoreKey::parse(k.expose())).transpose()?;
    let store = exbridge_store::open_store_with(&config.store.url, key).await?;
    let users: Vec<DirectoryUser> = match source.load().await {
        Some(loaded) => loaded.map_err(anyhow::Error::msg)?,
        None => store.list_users().await?.into_iter().map(|e| e.user).collect(),
    };
    let users: Vec<DirectoryUser> = match &only {
        Some(id) => users.into_iter().filter(|u| u.id.as_str() == id).collect(),
        None => users,
    };
    if users.is_empty() {
        match &only {
            Some(id) => println!("user {id} is not in the directory"),
            None => println!("the directory is empty"),
        }
        store.close().await;
        return Ok(ExitCode::SUCCESS);
    }
    let ctx = context_from_config(&config, store.clone()).await?;
    let (mut matched, mut unmatched) = (0, 0);
    for user in &users {
        let r = resolve_mailbox(&ctx, user, None, jiff::Timestamp::now()).await;
        let s = &r.state;
        match (&s.mailbox, s.matched_by, s.state) {
            (Some(mailbox), Some(by), _) => {
                matched += 1;
                let server = s.exchange.as_deref().unwrap_or("?");
                println!("{}: {mailbox} (matched by {by}, on {server})", user.id);
            }
            _ => {
                unmatched += 1;
                let what = if s.state == MailboxStatus::Error { "ERROR" } else { "no mailbox" };
                println!("{}: {what}", user.id);
                if s.attempts.is_empty() {
                    println!(
                        "    no identifier to try (login_email, work_email, personal_email, external_uid are all empty)"
                    );
                }
            }
        }
        for a in &s.attempts {
            let outcome = match &a.outcome {
                AttemptOutcome::Resolved { mailbox } => format!("resolved to {mailbox}"),
                AttemptOutcome::NotFound => "no mailbox".to_owned(),
                AttemptOutcome::Error { message } => format!("error: {message}"),
            };
            let on = a.exchange.as_deref().map(|x| format!(" on {x}")).unwrap_or_default();
            println!("    {} {}{on}: {outcome}", a.identifier, a.value);
        }
    }
    println!("{matched} of {} user(s) matched a mailbox, {unmatched} did not", users.len());
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
