//! The processes under test: one `caravan-ingestion` (whose client the load streams
//! through, swapped when it is restarted) and two `caravan-profiling` replicas sharing the
//! outbox consumer lease, all on the drill's database.

use std::time::Duration;

use anyhow::{Context, Result};
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use tokio::sync::watch;

use super::load::{ClientSlot, MERCHANT};
use crate::{Channel, ServerProcess};

/// Settings that make the drill's faults show within seconds.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// `profiling.consumer_lease_seconds`: how long a killed holder keeps the lease.
    pub lease_seconds: u64,
    /// `profiling.outbox_gap_grace_seconds`: how long a gap in the outbox sequence (a
    /// transaction rolled back by a kill) holds the consumer's offset.
    pub gap_grace_seconds: u64,
    /// `profiling.consumer_poll_ms`.
    pub poll_ms: u64,
}

pub struct Services {
    url: String,
    tuning: Tuning,
    workdir: tempfile::TempDir,
    pub ingestion: Option<ServerProcess>,
    pub replicas: Vec<ServerProcess>,
    /// Warning and error lines of the processes killed so far.
    retired_warnings: Vec<String>,
    slot: watch::Sender<Option<IngestionServiceClient<Channel>>>,
}

/// Log filter: warnings, plus the platform's lines the harness reads (listen addresses).
const LOG_FILTER: &str = "warn,caravan_platform=info";

impl Services {
    /// Starts ingestion and two profiling replicas on `url` (blocks until they listen); then
    /// [`Self::connect_and_create_merchant`].
    pub fn start_processes(url: &str, tuning: Tuning) -> Result<Self> {
        let (slot, _) = watch::channel(None);
        let mut services = Self {
            url: url.to_owned(),
            tuning,
            workdir: tempfile::tempdir()?,
            ingestion: None,
            replicas: Vec::new(),
            retired_warnings: Vec::new(),
            slot,
        };
        services.start_ingestion_process()?;
        for _ in 0..2 {
            services.start_replica()?;
        }
        Ok(services)
    }

    /// Hands the load its client and creates the drill's merchant.
    pub async fn connect_and_create_merchant(&mut self) -> Result<()> {
        self.connect_ingestion().await?;
        self.create_merchant().await
    }

    /// Where the load takes its ingestion client from.
    pub fn client_slot(&self) -> ClientSlot {
        self.slot.subscribe()
    }

    /// Starts the ingestion process (blocks until it listens); see [`Self::connect_ingestion`].
    pub fn start_ingestion_process(&mut self) -> Result<()> {
        let env = [
            ("CARAVAN__DATABASE__URL", self.url.as_str()),
            ("CARAVAN__INGESTION__IDENTITY_HASH_KEY", "fault-drill-key"),
            ("CARAVAN__TELEMETRY__LOG_FILTER", LOG_FILTER),
        ];
        let server = ServerProcess::start("caravan-ingestion", &[], &env, self.workdir.path())
            .context("start caravan-ingestion")?;
        self.ingestion = Some(server);
        Ok(())
    }

    /// Hands a client of the running ingestion process to the load.
    pub async fn connect_ingestion(&mut self) -> Result<()> {
        let server = self
            .ingestion
            .as_ref()
            .context("ingestion is not running")?;
        let client = IngestionServiceClient::new(server.channel().await?)
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        self.slot.send_replace(Some(client));
        Ok(())
    }

    /// kill -9 of ingestion; the load finds no server until it is started again.
    pub fn kill_ingestion(&mut self) -> Result<u32> {
        self.slot.send_replace(None);
        let server = self.ingestion.take().context("ingestion is not running")?;
        let pid = server.pid();
        kill9(pid)?;
        self.retire(server);
        Ok(pid)
    }

    /// Starts one more profiling replica.
    pub fn start_replica(&mut self) -> Result<()> {
        let lease = self.tuning.lease_seconds.to_string();
        let grace = self.tuning.gap_grace_seconds.to_string();
        let poll = self.tuning.poll_ms.to_string();
        let env = [
            ("CARAVAN__DATABASE__URL", self.url.as_str()),
            ("CARAVAN__PROFILING__CONSUMER_POLL_MS", poll.as_str()),
            ("CARAVAN__PROFILING__CONSUMER_LEASE_SECONDS", lease.as_str()),
            (
                "CARAVAN__PROFILING__OUTBOX_GAP_GRACE_SECONDS",
                grace.as_str(),
            ),
            ("CARAVAN__TELEMETRY__LOG_FILTER", LOG_FILTER),
        ];
        let replica = ServerProcess::start("caravan-profiling", &[], &env, self.workdir.path())
            .context("start caravan-profiling")?;
        self.replicas.push(replica);
        Ok(())
    }

    /// kill -9 of the replica with this pid.
    pub fn kill_replica(&mut self, pid: u32) -> Result<()> {
        let at = self
            .replicas
            .iter()
            .position(|r| r.pid() == pid)
            .context("no replica with that pid")?;
        let replica = self.replicas.remove(at);
        kill9(pid)?;
        self.retire(replica);
        Ok(())
    }

    pub fn replica_pids(&self) -> Vec<u32> {
        self.replicas.iter().map(ServerProcess::pid).collect()
    }

    /// A channel to a live profiling replica.
    pub async fn profiling_channel(&self) -> Result<Channel> {
        self.replicas
            .first()
            .context("no profiling replica")?
            .channel()
            .await
    }

    async fn create_merchant(&self) -> Result<()> {
        let mut client = self.slot.borrow().clone().context("no ingestion client")?;
        client
            .create_merchant(pb::CreateMerchantRequest {
                merchant_id: MERCHANT.to_owned(),
                merchant: Some(pb::Merchant {
                    display_name: "Fault drill".to_owned(),
                    base_currency_code: "GBP".to_owned(),
                    ..Default::default()
                }),
            })
            .await
            .context("create the drill's merchant")?;
        Ok(())
    }

    /// Keeps a killed process's warnings, then reaps it.
    fn retire(&mut self, server: ServerProcess) {
        self.retired_warnings.extend(warning_lines(&server));
        drop(server);
    }

    /// Warning and error lines every process of the drill logged, killed ones included.
    pub fn warnings(&self) -> Vec<String> {
        let live = self.ingestion.iter().chain(&self.replicas);
        let mut all = self.retired_warnings.clone();
        all.extend(live.flat_map(warning_lines));
        all
    }
}

fn warning_lines(server: &ServerProcess) -> Vec<String> {
    server
        .logs()
        .into_iter()
        .filter(|l| l.contains("\"level\":\"WARN\"") || l.contains("\"level\":\"ERROR\""))
        .collect()
}

/// `kill -KILL pid`, then a moment for the kernel to deliver it.
pub fn kill9(pid: u32) -> Result<()> {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .context("run kill")?;
    anyhow::ensure!(status.success(), "kill -KILL {pid} failed: {status}");
    std::thread::sleep(Duration::from_millis(10));
    Ok(())
}
