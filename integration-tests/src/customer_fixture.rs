//! Shared ground for the privacy tests (erasure and export): `caravan serve` on MariaDB or on
//! its embedded SQLite with a known identity key and fast background polls, builders for
//! the requests those tests send, waits for the background work (profiles, value models,
//! training, rebuilds), and a small inflater for the deflated recommendation model blobs
//! (`rec_models.params`, see `services/recommendation/src/engine/model_codec.rs`), so a test
//! can look inside them without linking the recommendation crate.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use caravan_proto::caravan::access::v1 as access_pb;
use caravan_proto::caravan::access::v1::access_service_client::AccessServiceClient;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as ing;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use caravan_proto::caravan::profiling::v1 as prof;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;
use caravan_proto::caravan::recommendation::v1 as rec;
use caravan_proto::caravan::recommendation::v1::recommendation_service_client::RecommendationServiceClient;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use tonic::Code;

use crate::mysql::TestDatabase;
use crate::{Channel, ServerProcess};

/// The HMAC key the suite hashes e-mails and phones with (`ingestion.identity_hash_key`).
pub const IDENTITY_HASH_KEY: &str = "privacy-tests-identity-key";

/// Which store `caravan serve` runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    MariaDb,
    Sqlite,
}

/// `caravan serve` (every service in one process) on a fresh store. Dropped in field order:
/// the server stops before its database goes.
pub struct Suite {
    pub server: ServerProcess,
    pub backend: Backend,
    /// URL to read the store with (read-only for SQLite).
    pub store_url: String,
    /// The MariaDB database (none on SQLite).
    pub db: Option<TestDatabase>,
    pub workdir: tempfile::TempDir,
    /// A channel presenting the server's all-powerful key.
    pub channel: Channel,
}

impl Suite {
    /// Starts the suite; `None` only when MariaDB tests are skipped (`CARAVAN_SKIP_MYSQL=1`).
    pub async fn start(backend: Backend) -> Result<Option<Self>> {
        Self::start_with(backend, &[]).await
    }

    /// [`Self::start`] with more settings (`CARAVAN__...` variables).
    pub async fn start_with(backend: Backend, settings: &[(&str, &str)]) -> Result<Option<Self>> {
        let workdir = tempfile::tempdir()?;
        let mut common_env = vec![
            ("CARAVAN__INGESTION__IDENTITY_HASH_KEY", IDENTITY_HASH_KEY),
            ("CARAVAN__PROFILING__CONSUMER_POLL_MS", "100"),
            ("CARAVAN__RECOMMENDATION__MODEL_POLL_MS", "200"),
        ];
        common_env.extend_from_slice(settings);
        let (server, db, store_url) = match backend {
            Backend::MariaDb => {
                let Some(db) = TestDatabase::create().await? else {
                    return Ok(None);
                };
                let mut env = vec![("CARAVAN__DATABASE__URL", db.url.as_str())];
                env.extend_from_slice(&common_env);
                let server = ServerProcess::start("caravan", &["serve"], &env, workdir.path())?;
                let url = db.url.clone();
                (server, Some(db), url)
            }
            Backend::Sqlite => {
                let server =
                    ServerProcess::start("caravan", &["serve"], &common_env, workdir.path())?;
                let file = workdir.path().join(".caravan/caravan.sqlite");
                ensure!(file.is_file(), "{} was not created", file.display());
                (server, None, format!("sqlite://{}?mode=ro", file.display()))
            }
        };
        let channel = server.channel().await?;
        Ok(Some(Self {
            server,
            backend,
            store_url,
            db,
            workdir,
            channel,
        }))
    }

    pub fn ingestion(&self) -> IngestionServiceClient<Channel> {
        IngestionServiceClient::new(self.channel.clone())
    }

    pub fn profiling(&self) -> ProfilingServiceClient<Channel> {
        ProfilingServiceClient::new(self.channel.clone())
    }

    pub fn recommendation(&self) -> RecommendationServiceClient<Channel> {
        RecommendationServiceClient::new(self.channel.clone())
    }

    pub fn access(&self) -> AccessServiceClient<Channel> {
        AccessServiceClient::new(self.channel.clone())
    }

    /// A connection to the store (read-only on SQLite).
    pub async fn store(&self) -> Result<DatabaseConnection> {
        Ok(caravan_store::connect(&self.store_url, 1).await?)
    }

    /// The server's log lines that mention `needle` (for failure reports).
    pub fn logs_mentioning(&self, needle: &str) -> Vec<String> {
        self.server
            .logs()
            .into_iter()
            .filter(|l| l.contains(needle))
            .collect()
    }

    /// Creates an API key through `AccessService.CreateApiKey` and waits until the server
    /// accepts it; returns the key and its resource name (`apiKeys/{id}`).
    pub async fn create_key(
        &self,
        merchants: &[&str],
        scopes: &[common::Scope],
    ) -> Result<(String, String)> {
        let created = self
            .access()
            .create_api_key(access_pb::CreateApiKeyRequest {
                api_key: Some(access_pb::ApiKey {
                    display_name: "privacy test".to_owned(),
                    merchant_ids: merchants.iter().map(|m| (*m).to_owned()).collect(),
                    scopes: scopes.iter().map(|s| *s as i32).collect(),
                    ..Default::default()
                }),
            })
            .await?
            .into_inner();
        let name = created.api_key.context("created key")?.name;
        // Another replica would learn of the key within `auth.key_refresh_ms`; wait for it
        // rather than assume this one knows at once.
        let mut client =
            IngestionServiceClient::new(self.server.channel_with_key(Some(&created.key)).await?);
        let merchant = format!("merchants/{}", merchants.first().context("a merchant")?);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match client
                .get_merchant(ing::GetMerchantRequest {
                    name: merchant.clone(),
                })
                .await
            {
                Ok(_) => break,
                Err(s) if s.code() == Code::Unauthenticated && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(s) => bail!("new key {name} does not work: {s:?}"),
            }
        }
        Ok((created.key, name))
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub const DAY: i64 = 86_400;

pub fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

pub fn eur(amount_minor: i64) -> Option<common::Money> {
    Some(common::Money {
        currency_code: "EUR".to_owned(),
        amount_minor,
    })
}

pub fn merchant_name(merchant: &str) -> String {
    format!("merchants/{merchant}")
}

pub fn customer_name(merchant: &str, id: &str) -> String {
    format!("merchants/{merchant}/customers/{id}")
}

pub fn product_name(merchant: &str, sku: &str) -> String {
    format!("merchants/{merchant}/products/{sku}")
}

/// Today (UTC) as a `common.Date`.
pub fn today() -> Option<common::Date> {
    use chrono::Datelike;
    let d = chrono::Utc::now().date_naive();
    Some(common::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    })
}

pub fn identifier(kind: common::IdentifierKind, value: &str) -> common::CustomerIdentifier {
    common::CustomerIdentifier {
        kind: kind as i32,
        value: value.to_owned(),
        issuer: String::new(),
    }
}

/// Creates merchant `id` with base currency EUR.
pub async fn create_merchant(client: &mut IngestionServiceClient<Channel>, id: &str) -> Result<()> {
    client
        .create_merchant(ing::CreateMerchantRequest {
            merchant_id: id.to_owned(),
            merchant: Some(ing::Merchant {
                display_name: id.to_uppercase(),
                base_currency_code: "EUR".to_owned(),
                ..Default::default()
            }),
        })
        .await
        .with_context(|| format!("create merchant {id}"))?;
    Ok(())
}

/// Upserts products `(sku, category)`, active, in stock, shipping everywhere.
pub async fn create_products(
    client: &mut IngestionServiceClient<Channel>,
    merchant: &str,
    products: &[(&str, &str)],
) -> Result<()> {
    client
        .batch_upsert_products(ing::BatchUpsertProductsRequest {
            parent: merchant_name(merchant),
            products: products
                .iter()
                .map(|(sku, category)| ing::Product {
                    name: product_name(merchant, sku),
                    title: format!("Product {sku}"),
                    category_path: (*category).to_owned(),
                    brand: "Acme".to_owned(),
                    price: eur(1_000),
                    stock_quantity: 100,
                    active: true,
                    ..Default::default()
                })
                .collect(),
            validate_only: false,
        })
        .await
        .context("upsert products")?;
    Ok(())
}

/// Ingests `events` in one BatchIngestEvents call; every one must be accepted.
pub async fn ingest_all(
    client: &mut IngestionServiceClient<Channel>,
    merchant: &str,
    events: Vec<ing::Event>,
) -> Result<ing::BatchIngestEventsResponse> {
    let n = events.len() as i64;
    let response = client
        .batch_ingest_events(ing::BatchIngestEventsRequest {
            parent: merchant_name(merchant),
            events,
            validate_only: false,
        })
        .await
        .context("BatchIngestEvents")?
        .into_inner();
    let bad: Vec<_> = response
        .results
        .iter()
        .filter(|r| r.status != ing::EventIngestStatus::Accepted as i32)
        .collect();
    ensure!(
        bad.is_empty() && response.accepted_count == n,
        "events not accepted: {bad:?}"
    );
    Ok(response)
}

/// Polls GetProfile (FULL) until `ready` holds, at most a minute.
pub async fn wait_for_profile(
    client: &mut ProfilingServiceClient<Channel>,
    customer: &str,
    what: &str,
    ready: impl Fn(&prof::Profile) -> bool,
) -> Result<prof::Profile> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    loop {
        match client
            .get_profile(prof::GetProfileRequest {
                name: format!("{customer}/profile"),
                view: prof::ProfileView::Full as i32,
                reveal_pii: false,
            })
            .await
        {
            Ok(p) if ready(p.get_ref()) => return Ok(p.into_inner()),
            Ok(p) => last = Some(p.into_inner()),
            Err(s) if s.code() == Code::NotFound => {}
            Err(s) => bail!("GetProfile {customer}: {s:?}"),
        }
        if Instant::now() > deadline {
            bail!("profile of {customer} not {what} within a minute; last seen: {last:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits for a rebuild job to succeed.
pub async fn wait_for_rebuild(
    client: &mut ProfilingServiceClient<Channel>,
    name: &str,
) -> Result<prof::RebuildJob> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = client
            .get_rebuild_job(prof::GetRebuildJobRequest {
                name: name.to_owned(),
            })
            .await?
            .into_inner();
        if job.state == prof::JobState::Succeeded as i32 {
            return Ok(job);
        }
        ensure!(
            job.state != prof::JobState::Failed as i32 && Instant::now() < deadline,
            "rebuild job did not succeed: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Fits a value model (made current) on every order so far and waits until it is READY.
pub async fn fit_value_model(
    client: &mut ProfilingServiceClient<Channel>,
    merchant: &str,
    id: &str,
) -> Result<prof::ValueModel> {
    let started = client
        .fit_value_model(prof::FitValueModelRequest {
            parent: merchant_name(merchant),
            value_model_id: id.to_owned(),
            // Named: these tests need a current model, not a model choice, whose Pareto/NBD
            // candidate can take minutes on a handful of customers in a debug build.
            frequency_model: prof::FrequencyModelKind::BgNbd as i32,
            calibration_end_date: today(),
            make_current: true,
            ..Default::default()
        })
        .await
        .context("FitValueModel")?
        .into_inner();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let model = client
            .get_value_model(prof::GetValueModelRequest {
                name: started.name.clone(),
            })
            .await?
            .into_inner();
        match prof::ValueModelState::try_from(model.state) {
            Ok(prof::ValueModelState::Ready) => return Ok(model),
            Ok(prof::ValueModelState::Fitting) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ => bail!("value model did not become READY: {model:?}"),
        }
    }
}

/// Starts a training of `kind` (deployed when done) and waits until it succeeded.
pub async fn train(
    client: &mut RecommendationServiceClient<Channel>,
    merchant: &str,
    kind: rec::ModelKind,
) -> Result<rec::TrainingJob> {
    let job = client
        .start_training(rec::StartTrainingRequest {
            parent: merchant_name(merchant),
            config: Some(rec::TrainingConfig {
                kind: kind as i32,
                auto_deploy: true,
                ..Default::default()
            }),
        })
        .await
        .context("StartTraining")?
        .into_inner();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = client
            .get_training_job(rec::GetTrainingJobRequest {
                name: job.name.clone(),
            })
            .await?
            .into_inner();
        match rec::TrainingJobState::try_from(got.state) {
            Ok(rec::TrainingJobState::Succeeded) => return Ok(got),
            Ok(rec::TrainingJobState::Failed | rec::TrainingJobState::Cancelled) => {
                bail!("training did not succeed: {got:?}")
            }
            _ if Instant::now() > deadline => bail!("training did not finish: {got:?}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Rows of a query whose columns are all text (NULL read as empty), each row its columns
/// joined by `|`, sorted: for comparing what the store holds before and after.
pub async fn text_rows(db: &DatabaseConnection, sql: &str) -> Result<Vec<String>> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .with_context(|| format!("query {sql}"))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut columns = Vec::new();
        for i in 0..row.column_names().len() {
            let value = row
                .try_get_by_index::<Option<String>>(i)
                .with_context(|| format!("{sql}: column {i} as text"))?;
            columns.push(value.unwrap_or_default());
        }
        out.push(columns.join("|"));
    }
    out.sort();
    Ok(out)
}

/// Every `rec_models` row as `(version, params)`.
pub async fn model_blobs(db: &DatabaseConnection) -> Result<Vec<(i64, Vec<u8>)>> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version, params FROM rec_models ORDER BY version",
        ))
        .await?;
    rows.iter()
        .map(|r| -> Result<(i64, Vec<u8>)> {
            Ok((
                r.try_get_by_index::<i64>(0)?,
                r.try_get_by_index::<Vec<u8>>(1)?,
            ))
        })
        .collect()
}

/// A model blob inflated: its stored form is raw DEFLATE of a buffer that starts `CRM1`.
pub fn inflate_model(blob: &[u8]) -> Result<Vec<u8>> {
    let raw = inflate(blob)?;
    ensure!(
        raw.starts_with(b"CRM1"),
        "inflated model blob does not start with the CRM1 magic"
    );
    Ok(raw)
}

/// Whether `haystack` contains `needle` (non-empty).
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

// --- raw DEFLATE (RFC 1951) decoder, after zlib's `puff.c` -------------------------------

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u64,
    count: u32,
}

impl BitReader<'_> {
    fn bits(&mut self, n: u32) -> Result<u32> {
        while self.count < n {
            let byte = *self
                .data
                .get(self.pos)
                .context("inflate: input ends early")?;
            self.pos += 1;
            self.buf |= u64::from(byte) << self.count;
            self.count += 8;
        }
        let value = (self.buf & ((1u64 << n) - 1)) as u32;
        self.buf >>= n;
        self.count -= n;
        Ok(value)
    }
}

const MAX_BITS: usize = 15;

struct Huffman {
    counts: [u16; MAX_BITS + 1],
    symbols: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Result<Self> {
        let mut counts = [0u16; MAX_BITS + 1];
        for &l in lengths {
            ensure!(usize::from(l) <= MAX_BITS, "inflate: code length {l}");
            counts[usize::from(l)] += 1;
        }
        let mut offsets = [0u16; MAX_BITS + 2];
        for len in 1..=MAX_BITS {
            offsets[len + 1] = offsets[len] + counts[len];
        }
        let mut symbols = vec![0u16; lengths.len()];
        for (symbol, &l) in lengths.iter().enumerate() {
            if l != 0 {
                let slot = &mut offsets[usize::from(l)];
                symbols[usize::from(*slot)] = symbol as u16;
                *slot += 1;
            }
        }
        Ok(Self { counts, symbols })
    }

    fn decode(&self, bits: &mut BitReader<'_>) -> Result<u16> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..=MAX_BITS {
            code |= bits.bits(1)? as i32;
            let count = i32::from(self.counts[len]);
            if code - count < first {
                let at = usize::try_from(index + (code - first))?;
                return self.symbols.get(at).copied().context("inflate: bad code");
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        bail!("inflate: code longer than 15 bits")
    }
}

const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
const CODE_LENGTH_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// Inflates raw DEFLATE data (no zlib or gzip header).
pub fn inflate(data: &[u8]) -> Result<Vec<u8>> {
    let mut bits = BitReader {
        data,
        pos: 0,
        buf: 0,
        count: 0,
    };
    let mut out = Vec::new();
    loop {
        let last = bits.bits(1)? == 1;
        match bits.bits(2)? {
            0 => {
                // Stored: skip to the byte boundary, then LEN, NLEN and the bytes.
                bits.buf = 0;
                bits.count = 0;
                let at = bits.pos;
                let header = data.get(at..at + 4).context("inflate: stored header")?;
                let len = usize::from(u16::from_le_bytes([header[0], header[1]]));
                let nlen = u16::from_le_bytes([header[2], header[3]]);
                ensure!(nlen == !(len as u16), "inflate: stored length check");
                let body = data
                    .get(at + 4..at + 4 + len)
                    .context("inflate: stored block ends early")?;
                out.extend_from_slice(body);
                bits.pos = at + 4 + len;
            }
            1 => {
                let mut lengths = [0u8; 288];
                lengths[..144].fill(8);
                lengths[144..256].fill(9);
                lengths[256..280].fill(7);
                lengths[280..].fill(8);
                let lit = Huffman::new(&lengths)?;
                let dist = Huffman::new(&[5u8; 30])?;
                codes(&mut bits, &lit, &dist, &mut out)?;
            }
            2 => {
                let nlen = bits.bits(5)? as usize + 257;
                let ndist = bits.bits(5)? as usize + 1;
                let ncode = bits.bits(4)? as usize + 4;
                ensure!(nlen <= 286 && ndist <= 30, "inflate: bad dynamic counts");
                let mut code_lengths = [0u8; 19];
                for &i in &CODE_LENGTH_ORDER[..ncode] {
                    code_lengths[i] = bits.bits(3)? as u8;
                }
                let lencode = Huffman::new(&code_lengths)?;
                let mut lengths = vec![0u8; nlen + ndist];
                let mut i = 0;
                while i < nlen + ndist {
                    let symbol = lencode.decode(&mut bits)?;
                    let (value, repeat) = match symbol {
                        0..=15 => (symbol as u8, 1),
                        16 => {
                            ensure!(i > 0, "inflate: repeat with no previous length");
                            (lengths[i - 1], 3 + bits.bits(2)? as usize)
                        }
                        17 => (0, 3 + bits.bits(3)? as usize),
                        _ => (0, 11 + bits.bits(7)? as usize),
                    };
                    ensure!(i + repeat <= nlen + ndist, "inflate: too many lengths");
                    lengths[i..i + repeat].fill(value);
                    i += repeat;
                }
                let lit = Huffman::new(&lengths[..nlen])?;
                let dist = Huffman::new(&lengths[nlen..])?;
                codes(&mut bits, &lit, &dist, &mut out)?;
            }
            _ => bail!("inflate: invalid block type"),
        }
        if last {
            return Ok(out);
        }
    }
}

fn codes(bits: &mut BitReader<'_>, lit: &Huffman, dist: &Huffman, out: &mut Vec<u8>) -> Result<()> {
    loop {
        let symbol = lit.decode(bits)?;
        match symbol {
            0..=255 => out.push(symbol as u8),
            256 => return Ok(()),
            _ => {
                let s = usize::from(symbol - 257);
                ensure!(s < 29, "inflate: bad length symbol");
                let len =
                    usize::from(LENGTH_BASE[s]) + bits.bits(u32::from(LENGTH_EXTRA[s]))? as usize;
                let d = usize::from(dist.decode(bits)?);
                ensure!(d < 30, "inflate: bad distance symbol");
                let back =
                    usize::from(DIST_BASE[d]) + bits.bits(u32::from(DIST_EXTRA[d]))? as usize;
                ensure!(back <= out.len(), "inflate: distance too far back");
                let start = out.len() - back;
                for k in 0..len {
                    let byte = out[start + k];
                    out.push(byte);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflates_fixed_dynamic_and_stored_blocks() {
        // `zlib.compressobj(9, zlib.DEFLATED, -15)` of b"CRM1 hello hello hello hello world".
        let fixed = [
            0x73, 0x0e, 0xf2, 0x35, 0x54, 0xc8, 0x48, 0xcd, 0xc9, 0xc9, 0xc7, 0x42, 0x96, 0xe7,
            0x17, 0xe5, 0xa4, 0x00, 0x00,
        ];
        assert_eq!(
            inflate(&fixed).expect("fixed"),
            b"CRM1 hello hello hello hello world"
        );
        // The same of "CRM1 " and "customer-NN bought PMM; " for NN in 0..12, MM = 7 NN mod
        // 10: a dynamic-Huffman block.
        let dynamic = [
            0x75, 0xcf, 0x3b, 0x0a, 0x80, 0x30, 0x10, 0x05, 0xc0, 0xab, 0xe4, 0x02, 0xc2, 0x6e,
            0x62, 0x7e, 0x58, 0x5a, 0x0b, 0xe2, 0x11, 0x14, 0xd1, 0x46, 0x02, 0x9a, 0xdc, 0xdf,
            0xf2, 0x3d, 0x0b, 0xdb, 0xe9, 0x66, 0x5c, 0x26, 0x35, 0x5b, 0x7b, 0x6a, 0xb9, 0xf6,
            0xbb, 0x13, 0x31, 0x6b, 0x69, 0xc7, 0x59, 0xcd, 0x2c, 0x32, 0x90, 0x2b, 0x3c, 0xb2,
            0x5b, 0x78, 0xcf, 0xee, 0xe0, 0xca, 0xde, 0xc3, 0x13, 0xbb, 0x87, 0x7b, 0xf6, 0x00,
            0xb7, 0xec, 0x11, 0x9e, 0xd9, 0x13, 0x3c, 0xb0, 0x67, 0xb8, 0x23, 0xd7, 0x9f, 0xaf,
            0x7e, 0xbf, 0x2f,
        ];
        let mut expected = b"CRM1 ".to_vec();
        for i in 0..12 {
            expected.extend_from_slice(
                format!("customer-{i:02} bought P{:02}; ", (i * 7) % 10).as_bytes(),
            );
        }
        assert_eq!(inflate(&dynamic).expect("dynamic"), expected);
        // A stored block: "abc".
        let stored = [0x01, 0x03, 0x00, 0xfc, 0xff, b'a', b'b', b'c'];
        assert_eq!(inflate(&stored).expect("stored"), b"abc");
        assert!(inflate(&[0x07]).is_err(), "block type 3 is invalid");
        assert!(inflate(&fixed[..8]).is_err(), "truncated input");
    }
}
