//! Encryption at rest: round trips with a key, a wrong or missing key at open, mixed databases,
//! tampered values, and the raw database file holding no plaintext subject or secret.

use exbridge_store::secrecy::{ExposeSecret, SecretString};
use exbridge_store::*;
use jiff::Timestamp;
use serde_json::json;
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;
use std::path::{Path, PathBuf};

const SUBJECT: &str = "Zyxwvut quarterly merger talks";
const BODY: &str = "Qwertzuiop confidential body text";
const LOCATION: &str = "Boardroom Plughxyzzy";
const ATTENDEE: &str = "ceo.vxqjkz@contoso.test";
const SECRET: &str = "Exch4nge-P@ssw0rd-mnbvcxy";

fn raw_key() -> StoreKey {
    StoreKey::parse(&"3c".repeat(32)).unwrap()
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn uid(s: &str) -> UserId {
    UserId::new(s)
}

fn key(uid: &str) -> MirrorKey {
    MirrorKey::new(FolderKind::Calendar, uid, InstanceKey::single())
}

fn event(uid: &str, subject: &str) -> MirrorEvent {
    MirrorEvent {
        key: key(uid),
        kind: MirrorKind::Single,
        item_id: ItemId::new(format!("item-{uid}")),
        change_key: Some(ChangeKey::new("ck-1")),
        series_id: None,
        start: Some(t("2026-03-02T09:00:00Z")),
        end: Some(t("2026-03-02T10:00:00Z")),
        event: json!({
            "uid": uid,
            "subject": subject,
            "body": BODY,
            "location": LOCATION,
            "attendees": [{"email": ATTENDEE, "name": "The CEO"}],
        }),
        content_hash: "hash-1".into(),
        changed_at: t("2026-03-01T08:00:00Z"),
        deleted: false,
    }
}

async fn open(path: &Path, key: Option<StoreKey>) -> Result<SqliteStore> {
    let mut options = SqliteStoreOptions::new(path);
    options.encryption_key = key;
    SqliteStore::open_with(options).await
}

/// Writes an event with the distinctive content (mirror, outbox, presence, idempotent
/// response), and a secret when keyed; then closes the store (WAL folded into the file).
async fn write_everything(path: &Path, key: Option<StoreKey>) {
    let store = open(path, key).await.unwrap();
    store.upsert_user(&DirectoryUser::new("alice")).await.unwrap();
    let ev = event("uid-1", SUBJECT);
    let note = NewOutboxEvent::new(EventType::EventCreated, uid("alice"), t("2026-03-01T08:00:00Z"), ev.event.clone());
    store.apply_mirror_changes(&uid("alice"), &[MirrorChange::Upsert(ev)], None, &[note]).await.unwrap();
    let presence = json!({"status": "busy", "subject": SUBJECT});
    let presence_note =
        NewOutboxEvent::new(EventType::PresenceChanged, uid("alice"), t("2026-03-01T08:00:00Z"), presence.clone());
    store.append_presence_change(&uid("alice"), &presence, &presence_note).await.unwrap();
    assert_eq!(store.idempotency_reserve(&uid("alice"), "k1", "h").await.unwrap(), Reservation::Reserved);
    let response = StoredResponse { status: 201, body: json!({"subject": SUBJECT}) };
    assert!(store.idempotency_complete(&uid("alice"), "k1", &response).await.unwrap());
    if store.encrypts_at_rest() {
        store.put_secret("exchange/main/password", &SecretString::from(SECRET)).await.unwrap();
    }
    store.close().await;
}

/// The bytes of the database file and any WAL/journal beside it.
fn raw_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        if let Ok(content) = std::fs::read(&file) {
            bytes.extend_from_slice(&content);
        }
    }
    assert!(bytes.len() > 4096, "the database file was read");
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn the_raw_file_holds_no_plaintext_content_or_secret_with_a_key() {
    let dir = tempfile::tempdir().unwrap();

    // Without a key the content is in the file: the check below can fail.
    let plain = dir.path().join("plain.db");
    write_everything(&plain, None).await;
    let bytes = raw_bytes(&plain);
    assert!(contains(&bytes, SUBJECT), "without a key the subject is stored as is");
    assert!(contains(&bytes, ATTENDEE));

    let sealed = dir.path().join("sealed.db");
    write_everything(&sealed, Some(raw_key())).await;
    let bytes = raw_bytes(&sealed);
    for needle in [SUBJECT, BODY, LOCATION, ATTENDEE, SECRET] {
        assert!(!contains(&bytes, needle), "{needle:?} appears in plain text in the encrypted database file");
    }
    assert!(contains(&bytes, "enc:v1:"), "sealed values are there");

    // And everything reads back.
    let store = open(&sealed, Some(raw_key())).await.unwrap();
    let got = store.get_event(&uid("alice"), &key("uid-1")).await.unwrap().unwrap();
    assert_eq!(got.event["subject"], SUBJECT);
    assert_eq!(got.event["attendees"][0]["email"], ATTENDEE);
    let entries = store.entries_after(0, 10).await.unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].data["location"], LOCATION);
    assert_eq!(store.presence_state(&uid("alice")).await.unwrap().unwrap()["subject"], SUBJECT);
    let record = store.idempotency_get(&uid("alice"), "k1").await.unwrap().unwrap();
    assert_eq!(record.response.unwrap().body["subject"], SUBJECT);
    let secret = store.get_secret("exchange/main/password").await.unwrap().unwrap();
    assert_eq!(secret.expose_secret(), SECRET);
    store.close().await;
}

#[tokio::test]
async fn round_trips_with_a_passphrase_and_through_open_store_with() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exbridge.db");
    let url = format!("sqlite://{}", path.display());
    let passphrase = || StoreKey::parse("a long enough passphrase for the store").unwrap();
    {
        let store = open_store_with(&url, Some(passphrase())).await.unwrap();
        assert!(store.encrypts_at_rest());
        store.upsert_user(&DirectoryUser::new("alice")).await.unwrap();
        store
            .apply_mirror_changes(&uid("alice"), &[MirrorChange::Upsert(event("u", SUBJECT))], None, &[])
            .await
            .unwrap();
        store.put_secret("webhook/a", &SecretString::from("s1")).await.unwrap();
        store.put_secret("webhook/a", &SecretString::from("s2")).await.unwrap();
        store.close().await;
    }
    let store = open_store_with(&url, Some(passphrase())).await.unwrap();
    let window = store
        .events_in_window(&uid("alice"), FolderKind::Calendar, t("2026-03-01T00:00:00Z"), t("2026-03-03T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(window.len(), 1);
    assert_eq!(window[0].event["body"], BODY);
    assert_eq!(store.get_secret("webhook/a").await.unwrap().unwrap().expose_secret(), "s2");
    assert!(store.get_secret("webhook/none").await.unwrap().is_none());
    assert!(store.delete_secret("webhook/a").await.unwrap());
    assert!(store.get_secret("webhook/a").await.unwrap().is_none());
    store.close().await;
}

#[tokio::test]
async fn a_wrong_key_fails_at_open_and_a_missing_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exbridge.db");
    write_everything(&path, Some(raw_key())).await;

    let other = StoreKey::parse(&"4d".repeat(32)).unwrap();
    let err = open(&path, Some(other)).await.unwrap_err();
    assert!(matches!(err, StoreError::WrongKey), "{err}");
    assert!(err.to_string().contains("store.encryption_key"), "{err}");

    let err = open(&path, None).await.unwrap_err();
    assert!(matches!(err, StoreError::KeyRequired { .. }), "{err}");
    assert!(err.to_string().contains("store.encryption_key"), "{err}");

    // The right key still opens it.
    open(&path, Some(raw_key())).await.unwrap().close().await;
}

#[tokio::test]
async fn secrets_are_refused_without_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("exbridge.db"), None).await.unwrap();
    assert!(!store.encrypts_at_rest());
    let err = store.put_secret("exchange/main/password", &SecretString::from(SECRET)).await.unwrap_err();
    assert!(matches!(err, StoreError::KeyRequired { .. }), "{err}");
    assert!(!err.to_string().contains(SECRET), "{err}");
    assert!(store.get_secret("exchange/main/password").await.unwrap().is_none());
    store.close().await;
}

#[tokio::test]
async fn a_database_written_without_a_key_reads_after_a_key_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exbridge.db");
    write_everything(&path, None).await;

    let store = open(&path, Some(raw_key())).await.unwrap();
    // Old rows are plain and still read.
    let old = store.get_event(&uid("alice"), &key("uid-1")).await.unwrap().unwrap();
    assert_eq!(old.event["subject"], SUBJECT);
    // New rows are sealed.
    store
        .apply_mirror_changes(&uid("alice"), &[MirrorChange::Upsert(event("uid-2", "Second"))], None, &[])
        .await
        .unwrap();
    let all = store.list_mirror(&uid("alice"), FolderKind::Calendar).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].event["subject"], "Second");
    let path = store.path().to_owned();
    store.close().await;

    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT event FROM mirror_events ORDER BY uid").fetch_all(&mut conn).await.unwrap();
    assert!(!stored[0].starts_with("enc:v1:"), "the old row stays as it was");
    assert!(stored[1].starts_with("enc:v1:"), "the new row is sealed");
    conn.close().await.unwrap();

    // Now that the database has a key, it cannot be opened without one.
    assert!(matches!(open(&path, None).await.unwrap_err(), StoreError::KeyRequired { .. }));
}

#[tokio::test]
async fn tampered_or_moved_ciphertext_is_an_error_not_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exbridge.db");
    let store = open(&path, Some(raw_key())).await.unwrap();
    store.upsert_user(&DirectoryUser::new("alice")).await.unwrap();
    let changes = [MirrorChange::Upsert(event("uid-1", SUBJECT)), MirrorChange::Upsert(event("uid-2", "Other"))];
    store.apply_mirror_changes(&uid("alice"), &changes, None, &[]).await.unwrap();
    store.put_secret("a", &SecretString::from(SECRET)).await.unwrap();
    store.close().await;

    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    // Flip one character of uid-1's ciphertext.
    let sealed: String =
        sqlx::query_scalar("SELECT event FROM mirror_events WHERE uid = 'uid-1'").fetch_one(&mut conn).await.unwrap();
    let mut chars: Vec<char> = sealed.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    sqlx::query("UPDATE mirror_events SET event = $1 WHERE uid = 'uid-1'")
        .bind(&tampered)
        .execute(&mut conn)
        .await
        .unwrap();
    // Copy uid-2's valid ciphertext into the secret's row: sealed for another place.
    sqlx::query("UPDATE secrets SET value = (SELECT event FROM mirror_events WHERE uid = 'uid-2') WHERE name = 'a'")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let store = open(&path, Some(raw_key())).await.unwrap();
    let err = store.get_event(&uid("alice"), &key("uid-1")).await.unwrap_err();
    assert!(matches!(&err, StoreError::Undecryptable { table: "mirror_events", column: "event", .. }), "{err}");
    assert!(store.get_event(&uid("alice"), &key("uid-2")).await.unwrap().is_some(), "other rows still read");
    let err = store.get_secret("a").await.unwrap_err();
    assert!(matches!(&err, StoreError::Undecryptable { table: "secrets", .. }), "{err}");
    store.close().await;
}
