//! The trust boundary, tried from outside against `caravan serve` on SQLite and on MariaDB:
//! every RPC of every service, enumerated from the descriptor set (so a new RPC cannot be
//! forgotten), refuses a caller without a key, a key of another merchant, and a read-only key
//! on anything that changes data; and none of those calls changes a single row.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use caravan_access::policy::{AccessPolicy, MethodRule};
use caravan_access::scope::Scope;
use caravan_integration_tests::raw_codec::{CallShape, call_raw};
use caravan_integration_tests::store_scan::{self, Dump};
use caravan_integration_tests::{Channel, ServerProcess, mysql::TestDatabase};
use caravan_proto::caravan::access::v1 as access_pb;
use caravan_proto::caravan::access::v1::access_service_client::AccessServiceClient;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, MessageDescriptor, ReflectMessage as _, Value,
};
use tonic::Code;

/// One RPC as the descriptor set and its access rule describe it.
struct Rpc {
    path: String,
    method: String,
    rule: MethodRule,
    input: MessageDescriptor,
    client_streaming: bool,
    server_streaming: bool,
}

/// Every RPC of every Caravan service, from the descriptor set the servers serve.
fn every_rpc() -> Result<Vec<Rpc>> {
    let pool = DescriptorPool::decode(caravan_proto::FILE_DESCRIPTOR_SET)?;
    let policy = AccessPolicy::load(
        caravan_proto::FILE_DESCRIPTOR_SET,
        &caravan_proto::ALL_SERVICE_NAMES,
    )?;
    let mut rpcs = Vec::new();
    for service in pool
        .services()
        .filter(|s| s.full_name().starts_with("caravan."))
    {
        for method in service.methods() {
            let path = format!("/{}/{}", service.full_name(), method.name());
            let rule = policy
                .rule(&path)
                .with_context(|| format!("{path} has no access rule"))?
                .clone();
            rpcs.push(Rpc {
                path,
                method: method.name().to_owned(),
                rule,
                input: method.input(),
                client_streaming: method.is_client_streaming(),
                server_streaming: method.is_server_streaming(),
            });
        }
    }
    Ok(rpcs)
}

/// A request of the RPC's input type whose merchant field names `merchant`; every other
/// field is left empty.
fn request_naming(rpc: &Rpc, merchant: &str) -> Result<Bytes> {
    let mut message = DynamicMessage::new(rpc.input.clone());
    if let Some(field) = &rpc.rule.merchant {
        let value = if field.name.ends_with("merchant_id") {
            merchant.to_owned()
        } else {
            format!("merchants/{merchant}")
        };
        set_path(&mut message, &field.name, value)?;
    }
    Ok(message.encode_to_vec().into())
}

fn set_path(message: &mut DynamicMessage, dotted: &str, value: String) -> Result<()> {
    match dotted.split_once('.') {
        None => {
            let field = message
                .descriptor()
                .get_field_by_name(dotted)
                .with_context(|| format!("no field {dotted}"))?;
            message.set_field(&field, Value::String(value));
        }
        Some((head, rest)) => {
            let field = message
                .descriptor()
                .get_field_by_name(head)
                .with_context(|| format!("no field {head}"))?;
            let Value::Message(inner) = message.get_field_mut(&field) else {
                anyhow::bail!("{head} is not a message");
            };
            set_path(inner, rest, value)?;
        }
    }
    Ok(())
}

/// Calls one RPC with one request message; the status it ends with (`Ok` when it did not
/// fail).
async fn call(channel: Channel, rpc: &Rpc, request: Bytes) -> Code {
    let shape = CallShape {
        client_streaming: rpc.client_streaming,
        server_streaming: rpc.server_streaming,
    };
    match call_raw(channel, &rpc.path, shape, request).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// The consumer's lease row is its heartbeat, renewed by the background consumer whatever
/// the calls do; every other table must be unchanged.
const HEARTBEAT_TABLES: [&str; 1] = ["consumer_offsets"];

fn changed(before: &Dump, after: &Dump) -> Vec<String> {
    store_scan::changed_tables(before, after)
        .into_iter()
        .filter(|t| !HEARTBEAT_TABLES.contains(&t.as_str()))
        .collect()
}

async fn create_merchant(client: &mut IngestionServiceClient<Channel>, id: &str) -> Result<()> {
    client
        .create_merchant(pb::CreateMerchantRequest {
            merchant_id: id.to_owned(),
            merchant: Some(pb::Merchant {
                display_name: id.to_uppercase(),
                base_currency_code: "EUR".to_owned(),
                ..Default::default()
            }),
        })
        .await?;
    Ok(())
}

async fn create_key(
    admin: &mut AccessServiceClient<Channel>,
    merchants: &[&str],
    scopes: &[Scope],
) -> Result<String> {
    let response = admin
        .create_api_key(access_pb::CreateApiKeyRequest {
            api_key: Some(access_pb::ApiKey {
                display_name: "access-control test".to_owned(),
                merchant_ids: merchants.iter().map(|m| (*m).to_owned()).collect(),
                scopes: scopes.iter().map(|s| s.to_proto() as i32).collect(),
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    Ok(response.key)
}

/// A store with data of merchant `acme`, a key for `beta` with every scope, a read-only key
/// for `acme`; then the matrix.
async fn every_rpc_is_fenced(
    server: &ServerProcess,
    db: &sea_orm::DatabaseConnection,
) -> Result<()> {
    let platform = server.channel().await?;
    let mut ingestion = IngestionServiceClient::new(platform.clone());
    create_merchant(&mut ingestion, "acme").await?;
    create_merchant(&mut ingestion, "beta").await?;
    ingestion
        .create_customer(pb::CreateCustomerRequest {
            parent: "merchants/acme".to_owned(),
            customer_id: "c-1".to_owned(),
            customer: Some(pb::Customer {
                kind: caravan_proto::caravan::common::v1::CustomerKind::Person as i32,
                details: Some(pb::customer::Details::Person(pb::PersonDetails {
                    given_name: "Ada".to_owned(),
                    email: "ada@example.com".to_owned(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
        })
        .await?;
    let mut admin = AccessServiceClient::new(platform);
    let beta_all = create_key(&mut admin, &["beta"], &Scope::ALL).await?;
    let acme_read = create_key(&mut admin, &["acme"], &[Scope::Read]).await?;

    let rpcs = every_rpc()?;
    ensure!(rpcs.len() >= 85, "only {} RPCs found", rpcs.len());
    // The customer's portrait is built in the background: let it settle first.
    store_scan::wait_for_outbox_consumed(db).await?;
    let before = store_scan::dump(db).await?;
    let mut wrong = Vec::new();
    for rpc in &rpcs {
        let on_acme = request_naming(rpc, "acme")?;
        let mut expect = vec![
            ("no credentials", None, Code::Unauthenticated),
            (
                "a key of merchant beta",
                Some(beta_all.as_str()),
                Code::PermissionDenied,
            ),
        ];
        if rpc.rule.scope != Scope::Read {
            expect.push((
                "a read-only key of acme",
                Some(acme_read.as_str()),
                Code::PermissionDenied,
            ));
        }
        for (who, key, code) in expect {
            let got = call(server.channel_with_key(key).await?, rpc, on_acme.clone()).await;
            if got != code {
                wrong.push(format!(
                    "{} with {who}: {got:?}, expected {code:?}",
                    rpc.path
                ));
            }
        }
    }
    ensure!(
        wrong.is_empty(),
        "{} calls answered wrongly:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    let after = store_scan::dump(db).await?;
    let changed = changed(&before, &after);
    ensure!(
        changed.is_empty(),
        "refused calls changed tables {changed:?}"
    );
    Ok(())
}

fn sqlite_store(workdir: &std::path::Path) -> String {
    format!(
        "sqlite://{}?mode=ro",
        workdir.join(".caravan/caravan.sqlite").display()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_rpc_refuses_strangers_other_merchants_and_readers_on_sqlite() -> Result<()> {
    let workdir = tempfile::tempdir()?;
    let server = ServerProcess::start("caravan", &["serve"], &[], workdir.path())?;
    let db = caravan_store::connect(&sqlite_store(workdir.path()), 1).await?;
    every_rpc_is_fenced(&server, &db).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_rpc_refuses_strangers_other_merchants_and_readers_on_mariadb() -> Result<()> {
    let Some(test_db) = TestDatabase::create().await? else {
        return Ok(());
    };
    let workdir = tempfile::tempdir()?;
    let server = ServerProcess::start(
        "caravan",
        &["serve"],
        &[("CARAVAN__DATABASE__URL", test_db.url.as_str())],
        workdir.path(),
    )?;
    let db = caravan_store::connect(&test_db.url, 1).await?;
    every_rpc_is_fenced(&server, &db).await
}

#[test]
fn read_only_rules_belong_to_rpcs_that_only_read() -> Result<()> {
    // A second opinion on the contract: an RPC whose rule asks only for `read` must have a
    // name that says it reads or computes, and an RPC whose name says it changes something
    // must not be open to `read` keys, so a rule marked `read` by mistake fails here.
    const READING: [&str; 13] = [
        "Get",
        "List",
        "Resolve",
        "Score",
        "Sample",
        "Allocate",
        "Recommend",
        "Similar",
        "Evaluate",
        "Predict",
        "Analyze",
        "Compare",
        "Export",
    ];
    const CHANGING: [&str; 16] = [
        "Create", "Update", "Delete", "Set", "Record", "Batch", "Ingest", "Merge", "Archive",
        "Start", "Deploy", "Fit", "Rebuild", "Revoke", "Rotate", "Erase",
    ];
    for rpc in every_rpc()? {
        let named = |verbs: &[&str]| verbs.iter().any(|verb| rpc.method.starts_with(verb));
        if rpc.rule.scope == Scope::Read {
            ensure!(
                named(&READING),
                "{} is open to read keys but its name does not read",
                rpc.path
            );
        }
        if named(&CHANGING) {
            ensure!(
                rpc.rule.scope != Scope::Read,
                "{} changes data but is open to read keys",
                rpc.path
            );
        }
    }
    Ok(())
}

async fn code_of<T>(result: Result<tonic::Response<T>, tonic::Status>) -> (Code, String) {
    match result {
        Ok(_) => (Code::Ok, String::new()),
        Err(status) => (status.code(), status.message().to_owned()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_credentials_get_a_clear_status_and_nothing_else() -> Result<()> {
    let workdir = tempfile::tempdir()?;
    let server = ServerProcess::start("caravan", &["serve"], &[], workdir.path())?;
    let store = sqlite_store(workdir.path());
    let mut ingestion = IngestionServiceClient::new(server.channel().await?);
    create_merchant(&mut ingestion, "acme").await?;
    create_merchant(&mut ingestion, "gone").await?;
    let mut admin = AccessServiceClient::new(server.channel().await?);
    let acme = create_key(&mut admin, &["acme"], &[Scope::Read, Scope::Write]).await?;
    let gone = create_key(&mut admin, &["gone"], &[Scope::Read]).await?;
    let revoked = create_key(&mut admin, &["acme"], &[Scope::Read]).await?;
    let expiring = admin
        .create_api_key(access_pb::CreateApiKeyRequest {
            api_key: Some(access_pb::ApiKey {
                merchant_ids: vec!["acme".into()],
                scopes: vec![Scope::Read.to_proto() as i32],
                expire_time: Some(prost_types::Timestamp {
                    seconds: chrono::Utc::now().timestamp() + 2,
                    nanos: 0,
                }),
                ..Default::default()
            }),
        })
        .await?
        .into_inner()
        .key;
    let revoked_id = &revoked[4..16];
    admin
        .revoke_api_key(access_pb::RevokeApiKeyRequest {
            name: format!("apiKeys/{revoked_id}"),
        })
        .await?;
    // The merchant row disappears behind the service's back.
    let writer = caravan_store::connect(&store.replace("mode=ro", "mode=rw"), 1).await?;
    sea_orm::ConnectionTrait::execute_unprepared(
        &writer,
        "DELETE FROM merchants WHERE id = 'gone'",
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(2_500)).await;

    let forged = {
        let mut k = acme.clone();
        let at = 20;
        let c = if &k[at..=at] == "A" { "B" } else { "A" };
        k.replace_range(at..=at, c);
        k
    };
    let random = caravan_access::NewKey::generate();
    let truncated = acme[..acme.len() - 5].to_owned();
    let huge = "x".repeat(1 << 20);
    let cases: Vec<(&str, Option<String>, Code, &str)> = vec![
        (
            "forged secret",
            Some(forged),
            Code::Unauthenticated,
            "not recognised",
        ),
        (
            "unknown key",
            Some(random.reveal().to_owned()),
            Code::Unauthenticated,
            "not recognised",
        ),
        (
            "truncated key",
            Some(truncated),
            Code::Unauthenticated,
            "malformed",
        ),
        (
            "expired key",
            Some(expiring),
            Code::Unauthenticated,
            "expired",
        ),
        (
            "revoked key",
            Some(revoked),
            Code::Unauthenticated,
            "revoked",
        ),
        (
            "key of a deleted merchant",
            Some(gone),
            Code::Unauthenticated,
            "no longer exist",
        ),
        ("1 MB authorization", Some(huge), Code::Unauthenticated, ""),
    ];
    let db = caravan_store::connect(&store, 1).await?;
    store_scan::wait_for_outbox_consumed(&db).await?;
    let before = store_scan::dump(&db).await?;
    for (what, key, code, says) in cases {
        let channel = server.channel_with_key(key.as_deref()).await?;
        let mut client = IngestionServiceClient::new(channel);
        let (got, message) = code_of(
            client
                .get_merchant(pb::GetMerchantRequest {
                    name: "merchants/acme".into(),
                })
                .await,
        )
        .await;
        ensure!(
            got == code && message.contains(says),
            "{what}: {got:?} {message:?}"
        );
    }
    // Ids are lower case: a name that differs only by case is not acme's.
    let mut acme_client = IngestionServiceClient::new(server.channel_with_key(Some(&acme)).await?);
    for name in ["merchants/ACME", "merchants/Acme/customers/c-1"] {
        let (got, message) = code_of(
            acme_client
                .get_customer(pb::GetCustomerRequest {
                    name: name.to_owned(),
                    reveal_pii: false,
                })
                .await,
        )
        .await;
        ensure!(
            got == Code::InvalidArgument && message.contains("must match"),
            "{name}: {got:?} {message}"
        );
    }
    let (got, message) = code_of(
        admin
            .create_api_key(access_pb::CreateApiKeyRequest {
                api_key: Some(access_pb::ApiKey {
                    merchant_ids: vec!["ACME".into()],
                    scopes: vec![Scope::Read.to_proto() as i32],
                    ..Default::default()
                }),
            })
            .await,
    )
    .await;
    ensure!(
        got == Code::InvalidArgument,
        "key for ACME: {got:?} {message}"
    );
    let after = store_scan::dump(&db).await?;
    let changed = changed(&before, &after);
    ensure!(
        changed.is_empty(),
        "refused calls changed tables {changed:?}"
    );
    Ok(())
}

fn caravan(
    args: &[&str],
    envs: &[(&str, &str)],
    workdir: &std::path::Path,
) -> Result<std::process::Output> {
    let mut command =
        std::process::Command::new(caravan_integration_tests::binary_path("caravan")?);
    command
        .args(args)
        .current_dir(workdir)
        .env("CARAVAN__TELEMETRY__LOG_FORMAT", "json");
    for (k, v) in envs {
        command.env(k, v);
    }
    Ok(command.output()?)
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_created_listed_and_revoked_from_the_command_line() -> Result<()> {
    let Some(db) = TestDatabase::create().await? else {
        return Ok(());
    };
    let workdir = tempfile::tempdir()?;
    let env = [("CARAVAN__DATABASE__URL", db.url.as_str())];
    let created = caravan(
        &[
            "keys",
            "create",
            "--merchant",
            "*",
            "--scope",
            "read,admin",
            "--expires",
            "90d",
        ],
        &env,
        workdir.path(),
    )?;
    ensure!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let stdout = String::from_utf8(created.stdout)?;
    let lines: Vec<&str> = stdout.lines().collect();
    ensure!(lines.len() == 1, "stdout must be the key alone: {stdout:?}");
    let key =
        caravan_access::api_key::PresentedKey::parse(lines[0]).context("a well-formed key")?;
    let stderr = String::from_utf8_lossy(&created.stderr);
    ensure!(!stderr.contains(lines[0]), "the key reached the log");

    let listed = caravan(&["keys", "list"], &env, workdir.path())?;
    let listing = String::from_utf8(listed.stdout)?;
    let row = listing
        .lines()
        .find(|l| l.starts_with(key.id.as_str()))
        .context("the new key is listed")?;
    ensure!(
        row.contains("\t*\tread,admin\t") && !listing.contains(lines[0]),
        "{row}"
    );

    let revoked = caravan(&["keys", "revoke", key.id.as_str()], &env, workdir.path())?;
    ensure!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let listing = String::from_utf8(caravan(&["keys", "list"], &env, workdir.path())?.stdout)?;
    let row = listing
        .lines()
        .find(|l| l.starts_with(key.id.as_str()))
        .context("still listed")?;
    ensure!(!row.ends_with("\t-"), "revocation time missing: {row}");

    for (args, says) in [
        (
            vec!["keys", "create", "--merchant", "ACME", "--scope", "read"],
            "must match",
        ),
        (
            vec!["keys", "create", "--merchant", "nobody", "--scope", "read"],
            "does not exist",
        ),
        (
            vec!["keys", "create", "--merchant", "*", "--scope", "root"],
            "unknown scope",
        ),
        (
            vec![
                "keys",
                "create",
                "--merchant",
                "*",
                "--scope",
                "read",
                "--expires",
                "soon",
            ],
            "--expires",
        ),
        (vec!["keys", "revoke", "nosuchkeyxyz"], "not found"),
    ] {
        let output = caravan(&args, &env, workdir.path())?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        ensure!(
            !output.status.success() && output.stdout.is_empty(),
            "{args:?} succeeded"
        );
        ensure!(stderr.contains(says), "{args:?}: {stderr}");
    }
    Ok(())
}

/// GetMerchant acme with `key`: `Ok` or the refusal's code.
async fn get_acme(server: &ServerProcess, key: &str) -> Result<Result<(), Code>> {
    let mut client = IngestionServiceClient::new(server.channel_with_key(Some(key)).await?);
    Ok(client
        .get_merchant(pb::GetMerchantRequest {
            name: "merchants/acme".into(),
        })
        .await
        .map(|_| ())
        .map_err(|s| s.code()))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_key_is_refused_by_every_replica_within_5_seconds() -> Result<()> {
    let Some(db) = TestDatabase::create().await? else {
        return Ok(());
    };
    let env = [
        ("CARAVAN__DATABASE__URL", db.url.as_str()),
        (
            "CARAVAN__INGESTION__IDENTITY_HASH_KEY",
            "integration-test-key",
        ),
    ];
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let replica_a = ServerProcess::start("caravan-ingestion", &[], &env, dir_a.path())?;
    let replica_b = ServerProcess::start("caravan-ingestion", &[], &env, dir_b.path())?;
    create_merchant(
        &mut IngestionServiceClient::new(replica_a.channel().await?),
        "acme",
    )
    .await?;
    let mut admin = AccessServiceClient::new(replica_a.channel().await?);
    let key = create_key(&mut admin, &["acme"], &[Scope::Read]).await?;
    ensure!(
        get_acme(&replica_a, &key).await? == Ok(()) && get_acme(&replica_b, &key).await? == Ok(())
    );
    admin
        .revoke_api_key(access_pb::RevokeApiKeyRequest {
            name: format!("apiKeys/{}", &key[4..16]),
        })
        .await?;
    let revoked_at = std::time::Instant::now();
    loop {
        if get_acme(&replica_b, &key).await? == Err(Code::Unauthenticated) {
            break;
        }
        ensure!(
            revoked_at.elapsed() < Duration::from_secs(5),
            "replica B still accepts the key after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "replica B refused the revoked key after {:?}",
        revoked_at.elapsed()
    );
    ensure!(get_acme(&replica_a, &key).await? == Err(Code::Unauthenticated));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_over_its_rate_limit_is_told_when_to_retry() -> Result<()> {
    use tonic_types::StatusExt as _;
    let workdir = tempfile::tempdir()?;
    let server = ServerProcess::start("caravan", &["serve"], &[], workdir.path())?;
    create_merchant(
        &mut IngestionServiceClient::new(server.channel().await?),
        "acme",
    )
    .await?;
    let key = AccessServiceClient::new(server.channel().await?)
        .create_api_key(access_pb::CreateApiKeyRequest {
            api_key: Some(access_pb::ApiKey {
                merchant_ids: vec!["acme".into()],
                scopes: vec![Scope::Read.to_proto() as i32],
                rate_limit_per_second: 2,
                ..Default::default()
            }),
        })
        .await?
        .into_inner()
        .key;
    let mut client = IngestionServiceClient::new(server.channel_with_key(Some(&key)).await?);
    let request = || pb::GetMerchantRequest {
        name: "merchants/acme".into(),
    };
    let mut limited = None;
    for _ in 0..10 {
        if let Err(status) = client.get_merchant(request()).await {
            limited = Some(status);
            break;
        }
    }
    let status = limited.context("10 immediate calls with a limit of 2 per second all passed")?;
    ensure!(status.code() == Code::ResourceExhausted, "{status:?}");
    let delay = status
        .get_error_details()
        .retry_info()
        .and_then(|r| r.retry_delay)
        .context("RetryInfo")?;
    ensure!(
        delay > Duration::ZERO && delay <= Duration::from_secs(1),
        "{delay:?}"
    );
    tokio::time::sleep(delay + Duration::from_millis(50)).await;
    client
        .get_merchant(request())
        .await
        .context("allowed again after the delay")?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn revealing_personal_data_needs_the_pii_scope_and_is_logged() -> Result<()> {
    let workdir = tempfile::tempdir()?;
    let server = ServerProcess::start("caravan", &["serve"], &[], workdir.path())?;
    let mut platform = IngestionServiceClient::new(server.channel().await?);
    create_merchant(&mut platform, "acme").await?;
    let created = platform
        .create_customer(pb::CreateCustomerRequest {
            parent: "merchants/acme".to_owned(),
            customer_id: "c-1".to_owned(),
            customer: Some(pb::Customer {
                kind: caravan_proto::caravan::common::v1::CustomerKind::Person as i32,
                details: Some(pb::customer::Details::Person(pb::PersonDetails {
                    given_name: "Ada".to_owned(),
                    email: "ada@example.com".to_owned(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    let shown = format!("{created:?}");
    ensure!(
        !shown.contains("ada@example.com") && !shown.contains("Ada\""),
        "create answered in clear: {shown}"
    );

    let mut admin = AccessServiceClient::new(server.channel().await?);
    let reader = create_key(&mut admin, &["acme"], &[Scope::Read]).await?;
    let pii_reader = create_key(&mut admin, &["acme"], &[Scope::Read, Scope::Pii]).await?;
    let reveal = pb::GetCustomerRequest {
        name: "merchants/acme/customers/c-1".into(),
        reveal_pii: true,
    };
    let mut as_reader = IngestionServiceClient::new(server.channel_with_key(Some(&reader)).await?);
    let denied = as_reader
        .get_customer(reveal.clone())
        .await
        .expect_err("no pii scope");
    ensure!(
        denied.code() == Code::PermissionDenied && denied.message().contains("pii"),
        "{denied:?}"
    );
    let masked = as_reader
        .get_customer(pb::GetCustomerRequest {
            reveal_pii: false,
            ..reveal.clone()
        })
        .await?
        .into_inner();
    ensure!(!format!("{masked:?}").contains("ada@example.com"));

    let mut as_pii = IngestionServiceClient::new(server.channel_with_key(Some(&pii_reader)).await?);
    let clear = as_pii.get_customer(reveal).await?.into_inner();
    ensure!(format!("{clear:?}").contains("ada@example.com"));
    let log = admin
        .list_access_log_entries(access_pb::ListAccessLogEntriesRequest {
            parent: "merchants/acme".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(log.entries.len() == 1, "{log:?}");
    let entry = &log.entries[0];
    ensure!(
        entry.api_key == format!("apiKeys/{}", &pii_reader[4..16])
            && entry.customer == "merchants/acme/customers/c-1"
            && entry.rpc == "/caravan.ingestion.v1.IngestionService/GetCustomer"
            && entry.action == access_pb::AccessAction::RevealPii as i32,
        "{entry:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exposed_address_needs_authentication_and_a_real_identity_key() -> Result<()> {
    let workdir = tempfile::tempdir()?;
    for (envs, says) in [
        (
            vec![
                ("CARAVAN__AUTH__ENABLED", "false"),
                ("CARAVAN__INGESTION__IDENTITY_HASH_KEY", "k-1"),
            ],
            "auth.enabled = false",
        ),
        (vec![], "development identity-hash key"),
    ] {
        let mut all = envs.clone();
        all.push(("CARAVAN__SERVER__LISTEN_ADDR", "0.0.0.0:0"));
        let output = caravan(&["serve"], &all, workdir.path())?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        ensure!(
            !output.status.success() && stderr.contains(says),
            "{envs:?}: {stderr}"
        );
    }
    // With both, an exposed address is served.
    let server = ServerProcess::start(
        "caravan",
        &["serve"],
        &[
            ("CARAVAN__SERVER__LISTEN_ADDR", "0.0.0.0:0"),
            ("CARAVAN__INGESTION__IDENTITY_HASH_KEY", "k-1"),
        ],
        workdir.path(),
    )?;
    ensure!(server.api_key().is_some());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bootstrap_key_is_made_once_private_and_never_logged() -> Result<()> {
    let workdir = tempfile::tempdir()?;
    let file = workdir.path().join(".caravan/admin.key");
    let key = {
        let server = ServerProcess::start("caravan", &["serve"], &[], workdir.path())?;
        let key = std::fs::read_to_string(&file)?.trim().to_owned();
        ensure!(server.api_key() == Some(key.as_str()));
        let logs = server.logs().join("\n");
        ensure!(
            logs.contains(".caravan/admin.key") && !logs.contains(&key),
            "{logs}"
        );
        key
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        ensure!(std::fs::metadata(&file)?.permissions().mode() & 0o777 == 0o600);
    }
    let again = ServerProcess::start("caravan", &["serve"], &[], workdir.path())?;
    ensure!(
        std::fs::read_to_string(&file)?.trim() == key,
        "a second start replaced the key"
    );
    let mut client = IngestionServiceClient::new(again.channel().await?);
    client
        .list_merchants(pb::ListMerchantsRequest::default())
        .await?;
    Ok(())
}
