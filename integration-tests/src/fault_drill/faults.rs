//! The faults, each a SIGKILL followed by what an operator's supervisor would do (start
//! the process again), with how long the system took to come back:
//! (a) `caravan-ingestion`, (b) the drill's `mariadbd`, (c) the `caravan-profiling`
//! replica holding the outbox consumer lease (the other one must take over).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use caravan_store::entity::consumer_offsets;
use caravan_store::sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Statement};

use super::load::Progress;
use super::mariadb::OwnMariaDb;
use super::services::Services;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    Ingestion,
    MariaDb,
    ConsumerLeader,
}

impl FaultKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Ingestion => "(a) kill -9 caravan-ingestion",
            Self::MariaDb => "(b) kill -9 mariadbd",
            Self::ConsumerLeader => "(c) kill -9 the profiling lease holder",
        }
    }
}

/// `rounds` of (a), (b), (c).
pub fn schedule(rounds: usize) -> Vec<FaultKind> {
    (0..rounds)
        .flat_map(|_| {
            [
                FaultKind::Ingestion,
                FaultKind::MariaDb,
                FaultKind::ConsumerLeader,
            ]
        })
        .collect()
}

/// What one fault did and how long recovery took.
#[derive(Debug, Clone)]
pub struct FaultOutcome {
    pub kind: FaultKind,
    /// Events acknowledged when it struck.
    pub at_acked: usize,
    /// Calls in flight when it struck.
    pub in_flight: usize,
    pub killed_pid: u32,
    /// From the kill until the process answered again; for (c), until the other replica
    /// held the lease.
    pub back_after: Duration,
    /// From the kill until events were stored again after the restart (`None` when no call
    /// was left to send).
    pub stored_after: Option<Duration>,
    /// From the kill until the first call acknowledged after the restart (a call is
    /// acknowledged at its end, so this includes the rest of a paced call).
    pub ingest_after: Option<Duration>,
    /// For (c): how long the killed holder's lease still ran at the kill, in seconds; the
    /// other replica must not take it over sooner.
    pub lease_left: Option<f64>,
    pub detail: String,
}

impl FaultOutcome {
    /// For (c): whether the lease changed hands before it expired (two holders at once,
    /// had the first been alive). 0.2 s of slack for the polling of the measurement.
    pub fn taken_early(&self) -> bool {
        self.lease_left
            .is_some_and(|left| self.back_after.as_secs_f64() + 0.2 < left)
    }
}

/// Everything a fault acts on.
pub struct Target<'a> {
    pub services: &'a mut Services,
    pub mariadb: &'a mut OwnMariaDb,
    /// The drill's own connection, to read the lease.
    pub db: &'a DatabaseConnection,
    pub progress: &'a Progress,
    /// Whether the load is over (no acknowledgement will come any more).
    pub load_over: &'a dyn Fn() -> bool,
}

/// How long the drill waits for any one recovery before it calls it a failure.
const RECOVERY_LIMIT: Duration = Duration::from_secs(120);
/// How long the killed MariaDB stays down before it is started again.
const MARIADB_DOWN: Duration = Duration::from_secs(1);

pub async fn strike(kind: FaultKind, target: &mut Target<'_>) -> Result<FaultOutcome> {
    let at_acked = target.progress.acked_events();
    let in_flight = target.progress.in_flight();
    let mut outcome = match kind {
        FaultKind::Ingestion => kill_ingestion(target).await?,
        FaultKind::MariaDb => kill_mariadb(target).await?,
        FaultKind::ConsumerLeader => kill_lease_holder(target).await?,
    };
    outcome.at_acked = at_acked;
    outcome.in_flight = in_flight;
    Ok(outcome)
}

fn outcome(kind: FaultKind, killed_pid: u32, back_after: Duration) -> FaultOutcome {
    FaultOutcome {
        kind,
        at_acked: 0,
        in_flight: 0,
        killed_pid,
        back_after,
        stored_after: None,
        ingest_after: None,
        lease_left: None,
        detail: String::new(),
    }
}

async fn kill_ingestion(target: &mut Target<'_>) -> Result<FaultOutcome> {
    let start = Instant::now();
    let pid = target.services.kill_ingestion()?;
    tokio::task::block_in_place(|| target.services.start_ingestion_process())?;
    target.services.connect_ingestion().await?;
    let mut out = outcome(FaultKind::Ingestion, pid, start.elapsed());
    out.stored_after = next_store(target, start).await?;
    out.ingest_after = next_ack(target, start).await?;
    Ok(out)
}

async fn kill_mariadb(target: &mut Target<'_>) -> Result<FaultOutcome> {
    let recoveries = target.mariadb.crash_recoveries();
    let pid = target.mariadb.pid().context("mariadbd is not running")?;
    let start = Instant::now();
    target.mariadb.kill9()?;
    tokio::time::sleep(MARIADB_DOWN).await;
    tokio::task::block_in_place(|| target.mariadb.restart())?;
    let mut out = outcome(FaultKind::MariaDb, pid, start.elapsed());
    out.stored_after = next_store(target, start).await?;
    out.ingest_after = next_ack(target, start).await?;
    out.detail = if target.mariadb.crash_recoveries() > recoveries {
        "InnoDB ran crash recovery".to_owned()
    } else {
        "no crash recovery in the error log".to_owned()
    };
    Ok(out)
}

async fn kill_lease_holder(target: &mut Target<'_>) -> Result<FaultOutcome> {
    let pids = target.services.replica_pids();
    let held = wait_for_holder(target.db, &pids).await?;
    let start = Instant::now();
    target.services.kill_replica(held.pid)?;
    let left = held.until - chrono::Utc::now();
    let survivors = target.services.replica_pids();
    let taken = wait_for_holder(target.db, &survivors).await?;
    let mut out = outcome(FaultKind::ConsumerLeader, held.pid, start.elapsed());
    out.lease_left = Some(left.as_seconds_f64());
    out.detail = format!(
        "the lease had {:.2} s left; replica {} took it over at offset {} (the killed one was at {})",
        left.as_seconds_f64(),
        taken.pid,
        taken.offset,
        held.offset
    );
    // Two replicas again, for the next time.
    tokio::task::block_in_place(|| target.services.start_replica())?;
    Ok(out)
}

/// The id of the newest stored event (events are numbered as they are stored).
async fn newest_event(db: &DatabaseConnection) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COALESCE(MAX(id), 0) FROM events",
        ))
        .await?;
    row.map_or(Ok(0), |r| r.try_get_by_index::<i64>(0))
}

/// Waits for the first event stored after this moment (the process or store just came
/// back, so nothing the fault cut can still commit); returns the time since `since`, or
/// `None` if the load ended first.
async fn next_store(target: &Target<'_>, since: Instant) -> Result<Option<Duration>> {
    let limit = Instant::now() + RECOVERY_LIMIT;
    let mut baseline = None;
    loop {
        // The drill's own connections may need a try to notice the store came back.
        match (baseline, newest_event(target.db).await) {
            (None, Ok(id)) => baseline = Some(id),
            (Some(before), Ok(id)) if id > before => return Ok(Some(since.elapsed())),
            _ => {}
        }
        if baseline.is_some() && (target.load_over)() {
            return Ok(None);
        }
        if Instant::now() > limit {
            bail!("no event stored within {RECOVERY_LIMIT:?} of the fault");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for the first call acknowledged after this moment; returns the time since
/// `since`, or `None` if the load ended first.
async fn next_ack(target: &Target<'_>, since: Instant) -> Result<Option<Duration>> {
    let calls = target.progress.acked_calls();
    let limit = Instant::now() + RECOVERY_LIMIT;
    loop {
        if target.progress.acked_calls() > calls {
            return Ok(Some(since.elapsed()));
        }
        if (target.load_over)() {
            return Ok(None);
        }
        if Instant::now() > limit {
            bail!("no call acknowledged within {RECOVERY_LIMIT:?} of the fault");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Who holds the consumer lease, until when, at which committed offset.
struct Holder {
    pid: u32,
    until: chrono::DateTime<chrono::Utc>,
    offset: i64,
}

/// The replica among `pids` that holds an unexpired consumer lease; waits for one (the
/// store may be coming back).
async fn wait_for_holder(db: &DatabaseConnection, pids: &[u32]) -> Result<Holder> {
    let limit = Instant::now() + RECOVERY_LIMIT;
    let mut last = String::from("no row yet");
    loop {
        match consumer_offsets::Entity::find_by_id("profiling".to_owned())
            .one(db)
            .await
        {
            Ok(Some(row)) => {
                let until = row.lease_until.map(|u| u.get());
                let live = until.is_some_and(|u| u > chrono::Utc::now());
                let owner = row.lease_owner.unwrap_or_default();
                let holder = pids.iter().find(|p| owner.contains(&format!("-{p}-")));
                if live && let (Some(pid), Some(until)) = (holder, until) {
                    return Ok(Holder {
                        pid: *pid,
                        until,
                        offset: row.last_seq,
                    });
                }
                last = format!("owner {owner:?}, live {live}");
            }
            Ok(None) => {}
            // The store may be recovering from the previous fault.
            Err(e) => last = e.to_string(),
        }
        if Instant::now() > limit {
            bail!("no replica of {pids:?} held the lease within {RECOVERY_LIMIT:?}: {last}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
