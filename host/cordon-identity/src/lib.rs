//! API tokens: who a request is.
//!
//! A token is 256 random bits, shown once when created (`cdn_` + 64 hex digits) and stored
//! only as its sha256, so a copy of the database authenticates no one. Each token is bound
//! to a tenant, a subject and roles, and may expire or be revoked; [`TokenStore::authenticate`]
//! turns a presented token into the [`Principal`] policy weighs.
//!
//! ```
//! use cordon_identity::{NewToken, TokenStore};
//! # let dir = tempfile::tempdir()?;
//! let store = TokenStore::open(&dir.path().join("identity.db"))?;
//! let created = store.create(&NewToken::new("acme", "ci-bot", ["developer"]))?;
//! let who = store.authenticate(&created.secret)?;
//! assert_eq!((who.tenant.as_str(), who.roles[0].as_str()), ("acme", "developer"));
//! store.revoke(&created.info.id)?;
//! assert!(store.authenticate(&created.secret).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use cordon_core::now_ms;
use cordon_core::{ErrorCode, Principal};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// What every token starts with, so a leaked one is recognisable (and scannable) as ours.
pub const TOKEN_PREFIX: &str = "cdn_";

/// Why a token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The token store could not be opened.
    #[error("cannot open the token store {}: {message}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A database operation failed.
    #[error("token store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The presented token is not one of ours, or is malformed.
    #[error("unknown token")]
    Unknown,
    /// The token expired.
    #[error("token {id} expired")]
    Expired {
        /// The token's id.
        id: String,
    },
    /// The token was revoked.
    #[error("token {id} was revoked")]
    Revoked {
        /// The token's id.
        id: String,
    },
    /// No token has this id.
    #[error("no token with id {0}")]
    NoSuchId(String),
    /// A request to create a token is invalid (no roles, an empty tenant, ...).
    #[error("{0}")]
    Invalid(String),
    /// The system's random source failed.
    #[error("cannot draw random bytes: {0}")]
    Random(String),
}

impl IdentityError {
    /// The stable code: bad credentials are `unauthenticated`, bad requests `bad_request`.
    pub fn code(&self) -> ErrorCode {
        match self {
            IdentityError::Unknown
            | IdentityError::Expired { .. }
            | IdentityError::Revoked { .. } => ErrorCode::Unauthenticated,
            IdentityError::NoSuchId(_) => ErrorCode::NotFound,
            IdentityError::Invalid(_) => ErrorCode::BadRequest,
            _ => ErrorCode::Internal,
        }
    }
}

/// What to bind a new token to.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Tenant.
    pub tenant: String,
    /// Subject.
    pub subject: String,
    /// Roles (at least one).
    pub roles: Vec<String>,
    /// Lifetime; `None` never expires.
    pub ttl: Option<Duration>,
}

impl NewToken {
    /// A token for `tenant`/`subject` with `roles`, never expiring.
    pub fn new(
        tenant: impl Into<String>,
        subject: impl Into<String>,
        roles: impl IntoIterator<Item = impl Into<String>>,
    ) -> NewToken {
        NewToken {
            tenant: tenant.into(),
            subject: subject.into(),
            roles: roles.into_iter().map(Into::into).collect(),
            ttl: None,
        }
    }
}

/// A token's public facts (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Public id, `tok_` + 12 hex digits; what `revoke` takes.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Subject.
    pub subject: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Created, ms since the epoch.
    pub created_ms: u64,
    /// Expires, ms since the epoch.
    pub expires_ms: Option<u64>,
    /// Revoked, ms since the epoch.
    pub revoked_ms: Option<u64>,
}

/// A token just created: the only time its secret exists outside the caller's hands.
#[derive(Debug)]
pub struct CreatedToken {
    /// Its facts.
    pub info: TokenInfo,
    /// The secret to present as `Authorization: Bearer <secret>`.
    pub secret: String,
}

/// Tokens, kept in SQLite as hashes.
pub struct TokenStore {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tokens (
    id         TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    tenant     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    roles      TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    revoked_ms INTEGER
);
";

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_hex(bytes: usize) -> Result<String, IdentityError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| IdentityError::Random(e.to_string()))?;
    Ok(hex::encode(buf))
}

impl TokenStore {
    /// Opens (creating if needed) the store at `path`.
    ///
    /// # Errors
    ///
    /// [`IdentityError::Open`] when it cannot be created or opened.
    pub fn open(path: &Path) -> Result<TokenStore, IdentityError> {
        let open_err = |message: String| IdentityError::Open {
            path: path.to_owned(),
            message,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        }
        let conn = Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        conn.busy_timeout(Duration::from_secs(10))
            .and_then(|()| conn.pragma_update(None, "journal_mode", "WAL"))
            .and_then(|()| conn.execute_batch(SCHEMA))
            .map_err(|e| open_err(e.to_string()))?;
        Ok(TokenStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates a token.
    ///
    /// # Errors
    ///
    /// [`IdentityError::Invalid`] for an empty tenant, subject or role list.
    pub fn create(&self, new: &NewToken) -> Result<CreatedToken, IdentityError> {
        if new.tenant.is_empty() || new.subject.is_empty() {
            return Err(IdentityError::Invalid(
                "a token needs a tenant and a subject".into(),
            ));
        }
        if new.roles.is_empty() || new.roles.iter().any(String::is_empty) {
            return Err(IdentityError::Invalid(
                "a token needs at least one role".into(),
            ));
        }
        let secret = format!("{TOKEN_PREFIX}{}", random_hex(32)?);
        let id = format!("tok_{}", random_hex(6)?);
        let created_ms = now_ms();
        let expires_ms = new
            .ttl
            .map(|t| created_ms.saturating_add(u64::try_from(t.as_millis()).unwrap_or(u64::MAX)));
        let roles = serde_json::to_string(&new.roles).unwrap_or_else(|_| "[]".into());
        self.conn().execute(
            "INSERT INTO tokens (id, hash, tenant, subject, roles, created_ms, expires_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                id,
                hash(&secret),
                new.tenant,
                new.subject,
                roles,
                created_ms,
                expires_ms
            ],
        )?;
        Ok(CreatedToken {
            info: TokenInfo {
                id,
                tenant: new.tenant.clone(),
                subject: new.subject.clone(),
                roles: new.roles.clone(),
                created_ms,
                expires_ms,
                revoked_ms: None,
            },
            secret,
        })
    }

    /// The principal a presented token stands for.
    ///
    /// # Errors
    ///
    /// [`IdentityError::Unknown`], [`IdentityError::Expired`] or [`IdentityError::Revoked`]
    /// (all `unauthenticated`).
    pub fn authenticate(&self, secret: &str) -> Result<Principal, IdentityError> {
        if !secret.starts_with(TOKEN_PREFIX) {
            return Err(IdentityError::Unknown);
        }
        // Every request authenticates: the statement is parsed once per connection.
        let conn = self.conn();
        let info = conn
            .prepare_cached(
                "SELECT id, tenant, subject, roles, created_ms, expires_ms, revoked_ms
                 FROM tokens WHERE hash = ?1",
            )?
            .query_row([hash(secret)], row_info)
            .optional()?
            .ok_or(IdentityError::Unknown)?;
        drop(conn);
        if info.revoked_ms.is_some() {
            return Err(IdentityError::Revoked { id: info.id });
        }
        if info.expires_ms.is_some_and(|e| e <= now_ms()) {
            return Err(IdentityError::Expired { id: info.id });
        }
        Ok(Principal {
            tenant: info.tenant,
            subject: info.subject,
            roles: info.roles,
        })
    }

    /// Every token, newest first.
    ///
    /// # Errors
    ///
    /// A database error.
    pub fn list(&self) -> Result<Vec<TokenInfo>, IdentityError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, tenant, subject, roles, created_ms, expires_ms, revoked_ms
             FROM tokens ORDER BY created_ms DESC, id",
        )?;
        let rows = stmt.query_map([], row_info)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revokes the token with `id`; later presentations fail.
    ///
    /// # Errors
    ///
    /// [`IdentityError::NoSuchId`] when no token has that id.
    pub fn revoke(&self, id: &str) -> Result<(), IdentityError> {
        let n = self.conn().execute(
            "UPDATE tokens SET revoked_ms = COALESCE(revoked_ms, ?2) WHERE id = ?1",
            params![id, now_ms()],
        )?;
        if n == 0 {
            return Err(IdentityError::NoSuchId(id.to_owned()));
        }
        Ok(())
    }
}

fn row_info(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenInfo> {
    let roles: String = r.get(3)?;
    Ok(TokenInfo {
        id: r.get(0)?,
        tenant: r.get(1)?,
        subject: r.get(2)?,
        roles: serde_json::from_str(&roles).unwrap_or_default(),
        created_ms: r.get(4)?,
        expires_ms: r.get(5)?,
        revoked_ms: r.get(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, TokenStore) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let s = TokenStore::open(&dir.path().join("id.db")).unwrap_or_else(|e| panic!("{e}"));
        (dir, s)
    }

    #[test]
    fn only_the_hash_is_stored_and_the_secret_is_256_bits() {
        let (dir, s) = store();
        let t = s
            .create(&NewToken::new("acme", "bot", ["guest"]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.secret.len(), TOKEN_PREFIX.len() + 64);
        drop(s);
        let bytes = std::fs::read(dir.path().join("id.db")).unwrap_or_default();
        let wal = std::fs::read(dir.path().join("id.db-wal")).unwrap_or_default();
        let needle = t.secret.as_bytes();
        for haystack in [&bytes, &wal] {
            assert!(!haystack.windows(needle.len()).any(|w| w == needle));
        }
    }

    #[test]
    fn forged_expired_and_revoked_tokens_are_unauthenticated() {
        let (_dir, s) = store();
        let t = s
            .create(&NewToken::new("acme", "bot", ["guest"]))
            .unwrap_or_else(|e| panic!("{e}"));
        // Same prefix and length, one digit changed.
        let mut forged = t.secret.clone();
        let last = if forged.ends_with('0') { "1" } else { "0" };
        forged.replace_range(forged.len() - 1.., last);
        for bad in [forged.as_str(), "cdn_", "Bearer x", ""] {
            let e = s.authenticate(bad).err();
            assert!(matches!(e, Some(IdentityError::Unknown)), "{bad}: {e:?}");
        }
        let expiring = s
            .create(&NewToken {
                ttl: Some(Duration::ZERO),
                ..NewToken::new("acme", "bot", ["guest"])
            })
            .unwrap_or_else(|e| panic!("{e}"));
        let e = s.authenticate(&expiring.secret).err();
        assert!(matches!(e, Some(IdentityError::Expired { .. })), "{e:?}");
        s.revoke(&t.info.id).unwrap_or_else(|e| panic!("{e}"));
        let e = s.authenticate(&t.secret).err();
        assert_eq!(e.map(|e| e.code()), Some(ErrorCode::Unauthenticated));
        assert!(matches!(
            s.revoke("tok_nope"),
            Err(IdentityError::NoSuchId(_))
        ));
    }

    #[test]
    fn list_shows_bindings_not_secrets() {
        let (_dir, s) = store();
        let t = s
            .create(&NewToken::new("acme", "bot", ["developer", "guest"]))
            .unwrap_or_else(|e| panic!("{e}"));
        let all = s.list().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all, [t.info]);
        assert!(
            s.create(&NewToken::new("acme", "bot", Vec::<String>::new()))
                .is_err()
        );
    }
}
