//! TLS and mTLS end to end: `caravan serve` with a server certificate and a client CA only
//! talks to clients that present a certificate that CA signed, and its own service-to-service
//! calls (marketing → profiling) go over the same mTLS with the service's credential.

use anyhow::{Context, Result, ensure};
use caravan_integration_tests::ServerProcess;
use caravan_platform::Secret;
use caravan_platform::client::CallerInterceptor;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use caravan_proto::caravan::marketing::v1 as marketing_pb;
use caravan_proto::caravan::marketing::v1::strategy_scoring_service_client::StrategyScoringServiceClient;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// A CA and the PEM files of a server and a client certificate it signed.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut ca = CertificateParams::new(Vec::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "caravan test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca.self_signed(&ca_key)?;
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem())?;
        let issuer = Issuer::new(ca, ca_key);
        for (name, sans, usage) in [
            (
                "server",
                vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
                ExtendedKeyUsagePurpose::ServerAuth,
            ),
            (
                "client",
                vec!["marketing.caravan".to_owned()],
                ExtendedKeyUsagePurpose::ClientAuth,
            ),
        ] {
            let mut params = CertificateParams::new(sans)?;
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate()?;
            let cert = params.signed_by(&key, &issuer)?;
            std::fs::write(dir.path().join(format!("{name}.pem")), cert.pem())?;
            std::fs::write(dir.path().join(format!("{name}.key")), key.serialize_pem())?;
        }
        Ok(Self { dir })
    }

    fn path(&self, file: &str) -> String {
        self.dir.path().join(file).display().to_string()
    }

    fn read(&self, file: &str) -> Result<Vec<u8>> {
        Ok(std::fs::read(self.dir.path().join(file))?)
    }
}

async fn connect(
    server: &ServerProcess,
    pki: &Pki,
    with_client_cert: bool,
) -> Result<InterceptedService<Channel, CallerInterceptor>> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pki.read("ca.pem")?))
        .domain_name("localhost");
    if with_client_cert {
        tls = tls.identity(Identity::from_pem(
            pki.read("client.pem")?,
            pki.read("client.key")?,
        ));
    }
    let channel = Channel::from_shared(format!("https://127.0.0.1:{}", server.addr.port()))?
        .tls_config(tls)?
        .connect()
        .await?;
    let key = server.api_key().map(Secret::new);
    Ok(InterceptedService::new(
        channel,
        CallerInterceptor::new(key.as_ref()).map_err(anyhow::Error::msg)?,
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn mutual_tls_admits_certified_clients_and_carries_the_services_own_calls() -> Result<()> {
    let pki = Pki::new()?;
    let workdir = tempfile::tempdir()?;
    let (ca, cert, key, client_cert, client_key) = (
        pki.path("ca.pem"),
        pki.path("server.pem"),
        pki.path("server.key"),
        pki.path("client.pem"),
        pki.path("client.key"),
    );
    let server = ServerProcess::start(
        "caravan",
        &["serve"],
        &[
            ("CARAVAN__SERVER__TLS__CERT_FILE", cert.as_str()),
            ("CARAVAN__SERVER__TLS__KEY_FILE", key.as_str()),
            ("CARAVAN__SERVER__TLS__CLIENT_CA_FILE", ca.as_str()),
            // Marketing reaches profiling at https://127.0.0.1:<port> with the same PKI.
            ("CARAVAN__CLIENTS__TLS__CA_FILE", ca.as_str()),
            ("CARAVAN__CLIENTS__TLS__CERT_FILE", client_cert.as_str()),
            ("CARAVAN__CLIENTS__TLS__KEY_FILE", client_key.as_str()),
            ("CARAVAN__CLIENTS__TLS__DOMAIN", "localhost"),
        ],
        workdir.path(),
    )?;
    ensure!(
        server
            .logs()
            .iter()
            .any(|l| l.contains("gRPC server listening") && l.contains("\"tls\":true")),
        "the server does not say it speaks TLS"
    );

    let mut client = IngestionServiceClient::new(connect(&server, &pki, true).await?);
    client
        .create_merchant(pb::CreateMerchantRequest {
            merchant_id: "acme".into(),
            merchant: Some(pb::Merchant {
                display_name: "ACME".into(),
                base_currency_code: "EUR".into(),
                ..Default::default()
            }),
        })
        .await
        .context("a certified client is served")?;

    // Marketing asks profiling for the profile over mTLS: profiling's NOT_FOUND (no profile
    // yet) proves the hop arrived; a failed handshake would be UNAVAILABLE.
    let mut marketing = StrategyScoringServiceClient::new(connect(&server, &pki, true).await?);
    let status = marketing
        .get_loyalty(marketing_pb::GetLoyaltyRequest {
            name: "merchants/acme/customers/nobody/loyalty".into(),
        })
        .await
        .expect_err("no such profile");
    ensure!(
        status.code() == tonic::Code::NotFound,
        "the marketing → profiling call: {status:?}"
    );

    // Without a client certificate the handshake fails (or the first call does).
    let refused = match connect(&server, &pki, false).await {
        Err(_) => true,
        Ok(channel) => IngestionServiceClient::new(channel)
            .list_merchants(pb::ListMerchantsRequest::default())
            .await
            .is_err(),
    };
    ensure!(refused, "a client without a certificate was served");

    // Plaintext is refused too.
    let plaintext = server.channel().await;
    let refused = match plaintext {
        Err(_) => true,
        Ok(channel) => IngestionServiceClient::new(channel)
            .list_merchants(pb::ListMerchantsRequest::default())
            .await
            .is_err(),
    };
    ensure!(refused, "a plaintext client was served");
    Ok(())
}
