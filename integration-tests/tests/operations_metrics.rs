//! Metrics an operator can use, checked with the real tools: `caravan serve` counts calls by
//! status, ingested events by outcome, the outbox consumer's lease and lag, the database's
//! reachability and pool; `promtool check metrics` accepts the exposition; a real Prometheus
//! scrapes the process and answers a query with the figure the calls produced; and every
//! metric the alert rules and the dashboard in `deploy/monitoring/` use is exported.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use caravan_integration_tests::{ServerProcess, customer_fixture, repo_root};
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use caravan_proto::caravan::recommendation::v1 as rec;
use caravan_proto::caravan::recommendation::v1::recommendation_service_client::RecommendationServiceClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MERCHANT: &str = "merchants/acme";
const INGESTION: &str = "caravan.ingestion.v1.IngestionService";

/// GET `path` from `addr` over HTTP/1.1; the status line and the body.
async fn http_get(addr: SocketAddr, path: &str) -> Result<(String, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8(raw)?;
    let (head, body) = text.split_once("\r\n\r\n").context("no HTTP header end")?;
    let status = head.lines().next().unwrap_or_default().to_owned();
    // Prometheus answers small JSON bodies chunked; the chunk sizes are on lines of their own.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)?
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> Result<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").context("chunk size")?;
        let size = usize::from_str_radix(size.trim(), 16)?;
        if size == 0 {
            return Ok(out);
        }
        out.push_str(rest.get(..size).context("short chunk")?);
        body = rest.get(size + 2..).context("chunk end")?;
    }
}

async fn scrape(addr: SocketAddr) -> Result<String> {
    let (status, body) = http_get(addr, "/metrics").await?;
    ensure!(status.contains("200"), "GET /metrics: {status}");
    Ok(body)
}

/// The value of the sample `name{labels}` (labels exactly as exported), if present.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}

fn event(id: &str, customer: &str, kind: Option<pb::event::Payload>) -> pb::Event {
    pb::Event {
        event_id: id.to_owned(),
        customer_identifiers: vec![common::CustomerIdentifier {
            kind: common::IdentifierKind::DeviceId as i32,
            value: customer.to_owned(),
            issuer: String::new(),
        }],
        occur_time: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        payload: kind,
        ..Default::default()
    }
}

fn page_view(id: &str, customer: &str) -> pb::Event {
    event(
        id,
        customer,
        Some(pb::event::Payload::PageView(pb::PageViewEvent {
            uri: "https://shop.example/p/1".to_owned(),
            ..Default::default()
        })),
    )
}

fn order(id: &str, customer: &str, sku: &str) -> pb::Event {
    let mut order = event(
        &format!("order-{id}"),
        customer,
        Some(pb::event::Payload::Order(pb::OrderEvent {
            order_id: id.to_owned(),
            status: pb::OrderStatus::Delivered as i32,
            lines: vec![pb::OrderLine {
                product: format!("{MERCHANT}/products/{sku}"),
                quantity: 1,
                unit_price: Some(common::Money {
                    currency_code: "EUR".to_owned(),
                    amount_minor: 500,
                }),
            }],
            ..Default::default()
        })),
    );
    order.occur_time = Some(prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp() - 86_400,
        nanos: 0,
    });
    order
}

/// A popularity model trained on the orders and deployed, so the model metrics exist.
async fn train_a_model(server: &ServerProcess) -> Result<()> {
    let mut client = RecommendationServiceClient::new(server.channel().await?);
    customer_fixture::train(&mut client, "acme", rec::ModelKind::Popularity).await?;
    client
        .recommend(rec::RecommendRequest {
            parent: MERCHANT.to_owned(),
            customer: format!("{MERCHANT}/customers/c-1"),
            ..Default::default()
        })
        .await?;
    Ok(())
}

/// Calls whose outcomes the metrics must show: 4 events accepted (2 views, 2 orders),
/// 1 duplicate, 1 rejected; one NOT_FOUND; one UNAUTHENTICATED; a model trained.
async fn make_traffic(server: &ServerProcess) -> Result<()> {
    let mut ingestion = IngestionServiceClient::new(server.channel().await?);
    customer_fixture::create_merchant(&mut ingestion, "acme").await?;
    for sku in ["A1", "B2"] {
        ingestion
            .create_product(pb::CreateProductRequest {
                parent: MERCHANT.to_owned(),
                product_id: sku.to_owned(),
                product: Some(pb::Product {
                    title: sku.to_owned(),
                    active: true,
                    stock_quantity: 10,
                    ..Default::default()
                }),
            })
            .await?;
    }
    let response = ingestion
        .batch_ingest_events(pb::BatchIngestEventsRequest {
            parent: MERCHANT.to_owned(),
            events: vec![
                page_view("e-1", "c-1"),
                page_view("e-2", "c-2"),
                page_view("e-1", "c-1"),
                event("e-3", "c-3", None),
                order("o-1", "c-1", "A1"),
                order("o-2", "c-2", "B2"),
            ],
            validate_only: false,
        })
        .await?
        .into_inner();
    ensure!(
        (
            response.accepted_count,
            response.duplicate_count,
            response.rejected_count
        ) == (4, 1, 1),
        "{response:?}"
    );
    let missing = ingestion
        .get_customer(pb::GetCustomerRequest {
            name: format!("{MERCHANT}/customers/nobody"),
            reveal_pii: false,
        })
        .await
        .expect_err("no such customer");
    ensure!(missing.code() == tonic::Code::NotFound, "{missing:?}");
    let mut stranger = IngestionServiceClient::new(server.channel_with_key(None).await?);
    let refused = stranger
        .get_merchant(pb::GetMerchantRequest {
            name: MERCHANT.to_owned(),
        })
        .await
        .expect_err("no key");
    ensure!(
        refused.code() == tonic::Code::Unauthenticated,
        "{refused:?}"
    );
    train_a_model(server).await
}

fn rpc_series(method: &str, code: &str) -> String {
    format!(
        "caravan_rpc_requests_total{{service=\"{INGESTION}\",method=\"{method}\",code=\"{code}\"}}"
    )
}

/// Scrapes until the outbox consumer has applied everything (it polls in the background).
async fn scrape_when_caught_up(addr: SocketAddr) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = scrape(addr).await?;
        let leader = sample(&metrics, "caravan_outbox_consumer_leader");
        let pending = sample(&metrics, "caravan_outbox_pending_entries");
        if leader == Some(1.0) && pending == Some(0.0) {
            return Ok(metrics);
        }
        if Instant::now() > deadline {
            bail!("consumer leader {leader:?}, pending {pending:?} after 30 s:\n{metrics}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn check_figures(metrics: &str) -> Result<()> {
    let expect = |series: &str, value: f64| -> Result<()> {
        let got = sample(metrics, series);
        ensure!(
            got == Some(value),
            "{series}: {got:?}, expected {value}\n{metrics}"
        );
        Ok(())
    };
    expect(&rpc_series("CreateMerchant", "OK"), 1.0)?;
    expect(&rpc_series("BatchIngestEvents", "OK"), 1.0)?;
    expect(&rpc_series("GetCustomer", "NOT_FOUND"), 1.0)?;
    expect(&rpc_series("GetMerchant", "UNAUTHENTICATED"), 1.0)?;
    expect("caravan_ingestion_events_total{outcome=\"accepted\"}", 4.0)?;
    expect(
        "caravan_recommendation_model_version{merchant=\"acme\"}",
        1.0,
    )?;
    ensure!(
        sample(
            metrics,
            "caravan_recommendation_model_age_seconds{merchant=\"acme\"}"
        )
        .is_some_and(|age| (0.0..600.0).contains(&age)),
        "model age missing:\n{metrics}"
    );
    expect("caravan_ingestion_events_total{outcome=\"duplicate\"}", 1.0)?;
    expect("caravan_ingestion_events_total{outcome=\"rejected\"}", 1.0)?;
    expect("caravan_outbox_oldest_pending_age_seconds", 0.0)?;
    expect(&format!("caravan_store_up{{service=\"{INGESTION}\"}}"), 1.0)?;
    ensure!(
        sample(metrics, "caravan_db_pool_connections{state=\"max\"}").is_some_and(|n| n >= 1.0),
        "pool size missing:\n{metrics}"
    );
    let created = format!(
        "caravan_rpc_duration_seconds_count{{service=\"{INGESTION}\",method=\"CreateMerchant\"}}"
    );
    expect(&created, 1.0)?;
    ensure!(
        sample(
            metrics,
            "caravan_rpc_in_flight{service=\"caravan.ingestion.v1.IngestionService\"}"
        ) == Some(0.0),
        "calls left in flight:\n{metrics}"
    );
    Ok(())
}

/// Every `caravan_*` metric the alert rules and the dashboard query is exported.
fn monitoring_uses_only_exported_metrics(metrics: &str) -> Result<()> {
    let dir = repo_root().join("deploy/monitoring");
    let text = std::fs::read_to_string(dir.join("caravan.rules.yml"))?
        + &std::fs::read_to_string(dir.join("grafana-dashboard.json"))?;
    let exported: Vec<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut used: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("caravan_"))
        .collect();
    used.sort_unstable();
    used.dedup();
    ensure!(used.len() >= 8, "only {used:?} found in deploy/monitoring");
    for name in used {
        let family = ["_total", "_bucket", "_count", "_sum"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name);
        ensure!(
            exported.contains(&family) || exported.contains(&name),
            "deploy/monitoring uses {name}, which is not exported"
        );
    }
    Ok(())
}

fn tool(name: &str) -> Result<std::path::PathBuf> {
    let path = repo_root().join(".tools/bin").join(name);
    ensure!(
        path.exists(),
        "{} is missing: run scripts/install-tools.sh",
        path.display()
    );
    Ok(path)
}

fn promtool_accepts(metrics: &str) -> Result<()> {
    use std::io::Write as _;
    let mut child = Command::new(tool("promtool")?)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("promtool stdin")?
        .write_all(metrics.as_bytes())?;
    let output = child.wait_with_output()?;
    ensure!(
        output.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// A real Prometheus scraping `target` every second; killed on drop.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    _data: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(target: SocketAddr) -> Result<Self> {
        let data = tempfile::tempdir()?;
        let config = data.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: caravan\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )?;
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let child = Command::new(tool("prometheus")?)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                data.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start prometheus")?;
        Ok(Self {
            child,
            addr,
            _data: data,
        })
    }

    /// The value of an instant query's first result, once it has one.
    async fn query_until(&self, query: &str, wanted: f64) -> Result<()> {
        let encoded: String = query
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok((_, body)) =
                http_get(self.addr, &format!("/api/v1/query?query={encoded}")).await
            {
                let value: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let got = value["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok());
                if got == Some(wanted) {
                    return Ok(());
                }
                last = body;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        bail!("Prometheus never answered {query} = {wanted}; last answer: {last}")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_exported_checked_by_promtool_and_scraped_by_prometheus() -> Result<()> {
    let workdir = tempfile::tempdir()?;
    let server = ServerProcess::start("caravan", &["serve"], &[], workdir.path())?;
    let metrics_addr = server
        .metrics_address()
        .context("caravan serve did not log its metrics address")?;
    make_traffic(&server).await?;

    let metrics = scrape_when_caught_up(metrics_addr).await?;
    check_figures(&metrics)?;
    monitoring_uses_only_exported_metrics(&metrics)?;
    promtool_accepts(&metrics)?;
    let (status, _) = http_get(metrics_addr, "/other").await?;
    ensure!(status.contains("404"), "{status}");

    let prometheus = Prometheus::start(metrics_addr)?;
    prometheus.query_until("up{job=\"caravan\"}", 1.0).await?;
    prometheus
        .query_until(
            "sum(caravan_ingestion_events_total{job=\"caravan\",outcome=\"accepted\"})",
            4.0,
        )
        .await?;
    prometheus
        .query_until(
            &format!(
                "sum(caravan_rpc_requests_total{{service=\"{INGESTION}\",code=\"NOT_FOUND\"}})"
            ),
            1.0,
        )
        .await
}
