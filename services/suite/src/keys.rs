//! `caravan keys create|list|revoke`: API key management straight on the configured store,
//! for operators (the same use cases as the AccessService RPCs).

use std::io::Write as _;

use anyhow::Context as _;
use caravan_access::key_admin::{self, KeySpec, parse_lifetime};
use caravan_access::key_store::KeyRecord;
use caravan_access::{KeyId, MerchantGrant, Scopes};
use caravan_platform::Settings;

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Creates a key and prints it on stdout: one line, nothing else. It is shown only once.
    Create {
        /// Merchant ids the key may act for (comma-separated or repeated), or '*' for all.
        #[arg(long = "merchant", required = true, value_delimiter = ',')]
        merchants: Vec<String>,
        /// Scopes, comma-separated: read, write, pii, admin.
        #[arg(long)]
        scope: String,
        /// Lifetime such as 90d, 12h or 30m; default: no expiry.
        #[arg(long, value_name = "LIFETIME")]
        expires: Option<String>,
        /// A label for people.
        #[arg(long, default_value = "")]
        name: String,
        /// Calls per second (default: auth.rate_limit_per_second).
        #[arg(long, value_name = "N")]
        rate_limit: Option<u32>,
    },
    /// Lists every key (never the keys themselves).
    List,
    /// Revokes a key; every replica refuses it within auth.key_refresh_ms.
    Revoke {
        /// The key id (the 12 characters after `cvn_`), or apiKeys/<id>.
        key_id: String,
    },
}

pub async fn run(settings: Settings, command: KeysCommand) -> anyhow::Result<()> {
    let db = caravan_platform::database::open_store(&settings).await?;
    let now = chrono::Utc::now();
    match command {
        KeysCommand::Create {
            merchants,
            scope,
            expires,
            name,
            rate_limit,
        } => {
            let spec = KeySpec {
                display_name: name,
                merchants: MerchantGrant::from_ids(&merchants)
                    .map_err(|e| anyhow::anyhow!("--merchant: {e}"))?,
                scopes: Scopes::parse_list(&scope).map_err(|e| anyhow::anyhow!("--scope: {e}"))?,
                expires_at: expires
                    .map(|text| parse_lifetime(&text).map(|d| now + d))
                    .transpose()
                    .map_err(|e| anyhow::anyhow!("--expires: {e}"))?,
                rate_limit_per_second: rate_limit,
            };
            let (key, _) = key_admin::create_key(&db, spec, "cli", now).await?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", key.reveal()).context("write the key to stdout")?;
        }
        KeysCommand::List => {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{}",
                table_row([
                    "KEY_ID",
                    "NAME",
                    "MERCHANTS",
                    "SCOPES",
                    "CREATED",
                    "EXPIRES",
                    "REVOKED"
                ])
            )?;
            let mut after: Option<KeyRecord> = None;
            loop {
                let page = key_admin::list_keys(&db, after.as_ref(), 500).await?;
                for key in &page {
                    writeln!(out, "{}", describe(key))?;
                }
                match page.into_iter().last() {
                    Some(last) => after = Some(last),
                    None => break,
                }
            }
        }
        KeysCommand::Revoke { key_id } => {
            let id = KeyId::parse(key_id.trim_start_matches("apiKeys/"))
                .map_err(|e| anyhow::anyhow!("{key_id:?}: {e}"))?;
            let key = key_admin::revoke_key(&db, &id, now).await?;
            eprintln!("revoked {}", key.id.name());
        }
    }
    Ok(())
}

fn describe(key: &KeyRecord) -> String {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(
            || "-".to_owned(),
            |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
    };
    table_row([
        key.id.as_str(),
        if key.display_name.is_empty() {
            "-"
        } else {
            &key.display_name
        },
        &key.merchants.to_list(),
        &key.scopes.to_list(),
        &time(Some(key.created_at)),
        &time(key.expires_at),
        &time(key.revoked_at),
    ])
}

fn table_row<'a>(cells: impl IntoIterator<Item = &'a str>) -> String {
    cells.into_iter().collect::<Vec<_>>().join("\t")
}
