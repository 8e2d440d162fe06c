//! Two real `caravan-profiling` replicas on one MariaDB database: one holds the outbox
//! consumer lease and keeps profiles fresh while the other stands by. When the holder is
//! killed, the other takes over once the lease expires; when it is stopped (SIGTERM), it
//! releases the lease and the other takes over at once. The holder also deletes applied
//! outbox rows past their retention. With the outbox in partitions, two replicas split
//! them, and a killed replica's partitions go to the other when their leases expire.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use caravan_integration_tests::Channel;
use caravan_integration_tests::ServerProcess;
use caravan_integration_tests::ingestion_env::{self, IngestionEnv};
use caravan_proto::caravan::ingestion::v1 as ing;
use caravan_proto::caravan::profiling::v1 as pb;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;
use caravan_store::sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use tonic::Code;

const M: &str = "merchants/acme";
fn replica(
    env: &IngestionEnv,
    workdir: &std::path::Path,
    lease_seconds: &str,
) -> Result<ServerProcess> {
    replica_with(env, workdir, lease_seconds, &[])
}

fn replica_with(
    env: &IngestionEnv,
    workdir: &std::path::Path,
    lease_seconds: &str,
    more: &[(&str, &str)],
) -> Result<ServerProcess> {
    let mut settings = vec![
        ("CARAVAN__DATABASE__URL", env.db.url.as_str()),
        ("CARAVAN__PROFILING__CONSUMER_POLL_MS", "100"),
        ("CARAVAN__PROFILING__CONSUMER_LEASE_SECONDS", lease_seconds),
    ];
    settings.extend_from_slice(more);
    ServerProcess::start("caravan-profiling", &[], &settings, workdir)
}

async fn ingest_view(env: &mut IngestionEnv, event_id: &str, who: &str) -> Result<()> {
    let response = env
        .client
        .batch_ingest_events(ing::BatchIngestEventsRequest {
            parent: M.to_owned(),
            events: vec![ing::Event {
                event_id: event_id.to_owned(),
                customer: format!("{M}/customers/{who}"),
                occur_time: Some(prost_types::Timestamp {
                    seconds: chrono::Utc::now().timestamp() - 60,
                    nanos: 0,
                }),
                payload: Some(ing::event::Payload::PageView(ing::PageViewEvent {
                    uri: "https://shop.example/".to_owned(),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(response.accepted_count == 1, "not accepted: {response:?}");
    Ok(())
}

/// GetProfile of a customer's portrait, basic view.
fn basic_profile(who: &str) -> pb::GetProfileRequest {
    pb::GetProfileRequest {
        name: format!("{M}/customers/{who}/profile"),
        view: pb::ProfileView::Basic as i32,
        reveal_pii: false,
    }
}

/// Polls GetProfile until the customer's profile exists; returns how long that took.
async fn wait_for_profile(
    client: &mut ProfilingServiceClient<Channel>,
    who: &str,
) -> Result<Duration> {
    let start = Instant::now();
    loop {
        match client.get_profile(basic_profile(who)).await {
            Ok(_) => return Ok(start.elapsed()),
            Err(s) if s.code() == Code::NotFound => {}
            Err(s) => bail!("GetProfile {who}: {s}"),
        }
        if start.elapsed() > Duration::from_secs(60) {
            bail!("profile of {who} not built within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn lease_owner(db: &DatabaseConnection) -> Result<String> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT lease_owner FROM consumer_offsets WHERE consumer = 'profiling'",
        ))
        .await?
        .context("no consumer_offsets row for profiling")?;
    Ok(row
        .try_get_by_index::<Option<String>>(0)?
        .unwrap_or_default())
}

fn owned_by(owner: &str, replica: &ServerProcess) -> bool {
    owner.contains(&format!("-{}-", replica.pid()))
}

fn logged(replica: &ServerProcess, text: &str) -> bool {
    replica.logs().iter().any(|l| l.contains(text))
}

/// Whether `text` shows in the replica's log within 5 s (its log reaches the test through a
/// pipe and a reader thread, a little after the fact).
async fn logs_soon(replica: &ServerProcess, text: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !logged(replica, text) {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// Two replicas; once the first customer's profile is built, the one holding the lease
/// first and the one standing by, each checked against its log.
async fn holder_and_standby(
    env: &mut IngestionEnv,
    db: &DatabaseConnection,
    workdir: &std::path::Path,
    lease_seconds: &str,
) -> Result<(ServerProcess, ServerProcess)> {
    let first = replica(env, workdir, lease_seconds)?;
    let second = replica(env, workdir, lease_seconds)?;
    ingest_view(env, "e-1", "c-1").await?;
    let mut client = ProfilingServiceClient::new(first.channel().await?);
    wait_for_profile(&mut client, "c-1").await?;

    let owner = lease_owner(db).await?;
    let (holder, standby) = match (owned_by(&owner, &first), owned_by(&owner, &second)) {
        (true, false) => (first, second),
        (false, true) => (second, first),
        _ => bail!("lease owner {owner:?} is neither replica"),
    };
    ensure!(logs_soon(&holder, "holds the lease and consumes").await);
    ensure!(
        logs_soon(&standby, "stands by").await,
        "the other replica did not stand by: {:?}",
        standby.logs()
    );
    ensure!(!logged(&standby, "holds the lease and consumes"));
    Ok((holder, standby))
}

/// Ingests an event for a new customer and waits for the survivor to build its profile
/// and hold the lease; returns how long the profile took.
async fn survivor_takes_over(
    env: &mut IngestionEnv,
    db: &DatabaseConnection,
    survivor: &ServerProcess,
) -> Result<Duration> {
    ingest_view(env, "e-2", "c-2").await?;
    let mut client = ProfilingServiceClient::new(survivor.channel().await?);
    let took = wait_for_profile(&mut client, "c-2").await?;
    let owner = lease_owner(db).await?;
    ensure!(
        owned_by(&owner, survivor),
        "lease owner {owner:?} after the takeover"
    );
    ensure!(logs_soon(survivor, "holds the lease and consumes").await);
    Ok(took)
}

/// Ingestion on a fresh MariaDB database, a store connection to it and a working directory
/// for the replicas; `None` without MariaDB.
async fn setup() -> Result<Option<(IngestionEnv, DatabaseConnection, tempfile::TempDir)>> {
    let Some(env) = ingestion_env::start(&[]).await? else {
        return Ok(None);
    };
    let db = caravan_store::connect(&env.db.url, 2).await?;
    Ok(Some((env, db, tempfile::tempdir()?)))
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_holder_dies_the_other_replica_takes_over_after_the_lease() -> Result<()> {
    let Some((mut env, db, workdir)) = setup().await? else {
        return Ok(());
    };
    let (holder, standby) = holder_and_standby(&mut env, &db, workdir.path(), "5").await?;

    // Killed, not stopped: the lease is not released and must expire (5 s).
    drop(holder);
    let took = survivor_takes_over(&mut env, &db, &standby).await?;
    ensure!(took < Duration::from_secs(20), "the takeover took {took:?}");
    db.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_holder_hands_the_lease_over_at_once() -> Result<()> {
    let Some((mut env, db, workdir)) = setup().await? else {
        return Ok(());
    };
    let (mut holder, standby) = holder_and_standby(&mut env, &db, workdir.path(), "60").await?;

    holder.sigterm()?;
    holder.wait_exit(Duration::from_secs(15))?;
    ensure!(
        logs_soon(&holder, "lease released").await,
        "the stopped holder did not release its lease: {:?}",
        holder.logs()
    );
    let took = survivor_takes_over(&mut env, &db, &standby).await?;
    // Far less than the 60 s lease: it was released, not left to expire.
    ensure!(took < Duration::from_secs(15), "the takeover took {took:?}");
    db.close().await?;
    Ok(())
}

async fn outbox_seqs(db: &DatabaseConnection) -> Result<Vec<i64>> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT seq FROM outbox ORDER BY seq",
        ))
        .await?;
    rows.iter()
        .map(|r| Ok(r.try_get_by_index::<i64>(0)?))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn applied_rows_leave_the_outbox_after_the_retention_and_later_events_still_arrive()
-> Result<()> {
    let Some((mut env, db, workdir)) = setup().await? else {
        return Ok(());
    };
    // Retention 0: rows go as soon as they are applied (checked every second).
    let holder = replica_with(
        &env,
        workdir.path(),
        "5",
        &[("CARAVAN__PROFILING__OUTBOX_RETENTION_SECONDS", "0")],
    )?;
    let mut client = ProfilingServiceClient::new(holder.channel().await?);
    for n in 1..=5 {
        ingest_view(&mut env, &format!("e-{n}"), &format!("c-{n}")).await?;
    }
    wait_for_profile(&mut client, "c-5").await?;
    let written = outbox_seqs(&db).await?;
    ensure!(
        written.len() >= 5,
        "one row per batch at least: {written:?}"
    );
    let newest = *written.last().context("outbox rows")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while outbox_seqs(&db).await? != [newest] {
        ensure!(
            Instant::now() < deadline,
            "applied rows still there after 20 s: {:?}",
            outbox_seqs(&db).await?
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The sequence goes on after the newest row, which stayed: a later event is applied.
    ingest_view(&mut env, "e-6", "c-6").await?;
    wait_for_profile(&mut client, "c-6").await?;
    let after = outbox_seqs(&db).await?;
    ensure!(
        after.iter().all(|seq| *seq >= newest),
        "rows after the deletion: {after:?}"
    );
    db.close().await?;
    Ok(())
}

/// Who holds each partition's lease (`profiling-<i>-of-<n>` rows), in partition order.
async fn partition_owners(db: &DatabaseConnection) -> Result<Vec<String>> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COALESCE(lease_owner, '') FROM consumer_offsets \
             WHERE consumer LIKE 'profiling-%-of-4' ORDER BY consumer",
        ))
        .await?;
    rows.iter()
        .map(|r| Ok(r.try_get_by_index::<String>(0)?))
        .collect()
}

/// Waits until each replica holds `shares[i]` of the 4 partitions.
async fn wait_for_shares(
    db: &DatabaseConnection,
    replicas: &[&ServerProcess],
    shares: &[usize],
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let owners = partition_owners(db).await?;
        let held: Vec<usize> = replicas
            .iter()
            .map(|r| owners.iter().filter(|o| owned_by(o, r)).count())
            .collect();
        if owners.len() == 4 && held == shares {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "partitions held {held:?}, wanted {shares:?}: {owners:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn ingest_views(env: &mut IngestionEnv, batch: &str, customers: usize) -> Result<()> {
    for n in 0..customers {
        ingest_view(env, &format!("{batch}-{n}"), &format!("{batch}-c{n}")).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_split_the_partitions_and_a_killed_ones_are_taken_over() -> Result<()> {
    let Some((mut env, db, workdir)) = setup().await? else {
        return Ok(());
    };
    let partitions = [("CARAVAN__PROFILING__CONSUMER_PARTITIONS", "4")];
    let first = replica_with(&env, workdir.path(), "3", &partitions)?;
    let second = replica_with(&env, workdir.path(), "3", &partitions)?;
    ingest_views(&mut env, "a", 24).await?;
    let mut client = ProfilingServiceClient::new(second.channel().await?);
    for n in 0..24 {
        wait_for_profile(&mut client, &format!("a-c{n}")).await?;
    }
    wait_for_shares(&db, &[&first, &second], &[2, 2]).await?;
    ensure!(logs_soon(&first, "holds the lease and consumes").await);
    ensure!(logs_soon(&second, "holds the lease and consumes").await);

    // A merge across partitions: the sources' portraits go (each in its own partition),
    // the target's is rebuilt with their events.
    let sources: Vec<String> = (0..6).map(|n| format!("{M}/customers/a-c{n}")).collect();
    env.client
        .merge_customers(ing::MergeCustomersRequest {
            target_customer: format!("{M}/customers/a-c6"),
            source_customers: sources,
            reason: "same person".to_owned(),
            actor: "test".to_owned(),
        })
        .await?;
    let started = Instant::now();
    loop {
        let target = client
            .get_profile(basic_profile("a-c6"))
            .await?
            .into_inner();
        let mut left = Vec::new();
        for n in 0..6 {
            if client
                .get_profile(basic_profile(&format!("a-c{n}")))
                .await
                .is_ok()
            {
                left.push(n);
            }
        }
        if target.event_count == 7 && left.is_empty() {
            break;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(30),
            "after the merge: target has {} events, sources {left:?} still have portraits",
            target.event_count
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Killed: its two leases expire (3 s) and the survivor takes them.
    drop(first);
    ingest_views(&mut env, "b", 24).await?;
    let started = Instant::now();
    for n in 0..24 {
        wait_for_profile(&mut client, &format!("b-c{n}")).await?;
    }
    ensure!(
        started.elapsed() < Duration::from_secs(20),
        "the takeover took {:?}",
        started.elapsed()
    );
    wait_for_shares(&db, &[&second], &[4]).await?;
    db.close().await?;
    Ok(())
}
