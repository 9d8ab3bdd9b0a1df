//! Store errors: each names what failed and, where it helps, what the operator can do.

use crate::model::UserId;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A user-scoped write for a user that is not in the directory (removed meanwhile, or never
    /// added).
    #[error("user {0} is not in the directory")]
    UnknownUser(UserId),

    /// `replace_directory` refused a mass delete.
    #[error(
        "refusing to replace the directory: it would remove {removing} of its {existing} users \
         (check the directory source, or force the replacement)"
    )]
    MassDelete { removing: usize, existing: usize },

    /// The caller passed something the store cannot take.
    #[error("invalid input: {0}")]
    Invalid(String),

    /// A stored value could not be read back (edited by hand, or written by a newer version).
    #[error("corrupt value in {table}.{column}: {detail}")]
    Corrupt { table: &'static str, column: &'static str, detail: String },

    /// The store URL names a backend this build cannot open.
    #[error("unsupported store url {url:?}: {reason}")]
    Unsupported { url: String, reason: String },

    /// The database failed; `op` names the store operation.
    #[error("store {op} failed: {source}")]
    Database {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },

    /// `store.encryption_key` is not the key this database was encrypted with.
    #[error(
        "store.encryption_key does not match the key this database was encrypted with \
         (its key check in store_meta does not decrypt): configure the key used before"
    )]
    WrongKey,

    /// An encrypted value, or a database with encrypted values, but no key configured; or a
    /// secret to store without a key.
    #[error("{what}: set store.encryption_key (to the key used before, if the database has one)")]
    KeyRequired { what: String },

    /// A sealed value that does not decrypt with the configured key: altered, or copied from
    /// another row or column.
    #[error("cannot decrypt {table}.{column} of row {row}: the value was altered or does not belong to this row")]
    Undecryptable { table: &'static str, column: &'static str, row: String },

    /// Applying migrations failed (a database from a newer exbridge, or a damaged file).
    #[error("store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether retrying later may succeed (busy or locked database, pool timeout, lost
    /// connection).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database { source, .. } => match source {
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(db) => {
                    let code = db.code().unwrap_or_default();
                    // PostgreSQL: serialization failure, deadlock, lock not available.
                    if matches!(&*code, "40001" | "40P01" | "55P03") {
                        return true;
                    }
                    // SQLite: BUSY (5) and LOCKED (6), with their extended codes.
                    db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
                        && code.parse::<i64>().is_ok_and(|n| matches!(n & 0xff, 5 | 6))
                }
                _ => false,
            },
            _ => false,
        }
    }
}

/// Wraps a database error with the operation that failed.
pub(crate) fn db(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { op, source }
}

/// Like [`db`], but a foreign-key violation means the user is not in the directory.
pub(crate) fn db_user<'u>(op: &'static str, user: &'u UserId) -> impl FnOnce(sqlx::Error) -> StoreError + 'u {
    move |source| {
        if let sqlx::Error::Database(e) = &source
            && e.is_foreign_key_violation()
        {
            return StoreError::UnknownUser(user.clone());
        }
        StoreError::Database { op, source }
    }
}
