//! `cordon token create|list|revoke`.

use crate::Settings;
use anyhow::Result;
use cordon_core::{CallError, parse_duration};
use cordon_identity::{IdentityError, NewToken, TokenInfo, TokenStore};
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Create a token. Its facts go first; the secret is printed once, alone, on the last
    /// line of stdout, and is never stored (only its hash is).
    Create {
        /// Tenant the token acts for.
        #[arg(long)]
        tenant: String,
        /// Role (repeatable): guest, developer, admin, or any role your policy knows.
        #[arg(long = "role", value_name = "ROLE", required = true)]
        roles: Vec<String>,
        /// Who the token is for (default: the tenant's name).
        #[arg(long)]
        subject: Option<String>,
        /// Lifetime, e.g. 1h, 30d (default: never expires).
        #[arg(long)]
        ttl: Option<String>,
    },
    /// List tokens (never their secrets).
    List {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id; it stops authenticating at once.
    Revoke {
        /// The token's id (`tok_...`).
        id: String,
    },
}

fn store(settings: &Settings) -> Result<TokenStore> {
    TokenStore::open(&settings.identity_path()).map_err(err)
}

fn err(e: IdentityError) -> anyhow::Error {
    CallError::new(e.code(), e.to_string()).into()
}

pub(crate) fn time(ms: u64) -> String {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        .to_string()
}

fn describe(t: &TokenInfo) -> String {
    let state = match (t.revoked_ms, t.expires_ms) {
        (Some(r), _) => format!("revoked {}", time(r)),
        (None, Some(e)) => format!("expires {}", time(e)),
        (None, None) => "never expires".into(),
    };
    format!(
        "{}  tenant={}  subject={}  roles={}  created {}  {state}",
        t.id,
        t.tenant,
        t.subject,
        t.roles.join(","),
        time(t.created_ms)
    )
}

pub fn token(settings: &Settings, cmd: TokenCommand) -> Result<ExitCode> {
    let store = store(settings)?;
    match cmd {
        TokenCommand::Create {
            tenant,
            roles,
            subject,
            ttl,
        } => {
            let ttl = ttl.map(|t| parse_duration(&t)).transpose().map_err(|e| {
                CallError::new(cordon_core::ErrorCode::BadRequest, format!("--ttl: {e}"))
            })?;
            let created = store
                .create(&NewToken {
                    subject: subject.unwrap_or_else(|| tenant.clone()),
                    tenant,
                    roles,
                    ttl,
                })
                .map_err(err)?;
            println!("{}", describe(&created.info));
            println!("# The token, shown once: send it as `Authorization: Bearer <token>`.");
            println!("{}", created.secret);
        }
        TokenCommand::List { json } => {
            for t in store.list().map_err(err)? {
                if json {
                    println!("{}", serde_json::to_string(&t)?);
                } else {
                    println!("{}", describe(&t));
                }
            }
        }
        TokenCommand::Revoke { id } => {
            store.revoke(&id).map_err(err)?;
            println!("revoked {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
