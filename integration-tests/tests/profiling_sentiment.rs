//! AnalyzeSentiment through the real `caravan-profiling` binary (embedded model, nothing
//! downloaded): clearly polar reviews in the six supported languages, with the language
//! given and detected, and invalid requests named field by field.

use anyhow::{Result, ensure};
use caravan_integration_tests::ServerProcess;
use caravan_integration_tests::mysql::TestDatabase;
use caravan_integration_tests::violated_fields;
use caravan_proto::caravan::profiling::v1 as pb;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;
use tonic::Code;

const M: &str = "merchants/acme";

/// (language, clearly positive review, clearly negative review).
const REVIEWS: [(&str, &str, &str); 6] = [
    (
        "en",
        "Fast delivery and great quality. I love it and would buy again!",
        "Arrived broken and the seller refused a refund. Terrible, a complete waste of money.",
    ),
    (
        "zh",
        "发货很快，质量非常好，很满意，下次还会再买。",
        "到货就坏了，卖家拒绝退款，质量太差了，非常失望。",
    ),
    (
        "es",
        "Entrega rápida y excelente calidad. Me encanta, lo volvería a comprar.",
        "Llegó roto y el vendedor rechazó el reembolso. Pésima calidad, muy decepcionado.",
    ),
    (
        "de",
        "Schnelle Lieferung und tolle Qualität. Ich bin sehr zufrieden und würde wieder kaufen.",
        "Kam kaputt an und der Verkäufer hat die Rückerstattung verweigert. Schlechte Qualität, sehr enttäuscht.",
    ),
    (
        "fr",
        "Livraison rapide et excellente qualité. J'adore, je le rachèterais sans hésiter.",
        "Arrivé cassé et le vendeur a refusé le remboursement. Qualité horrible, très déçu.",
    ),
    (
        "pt",
        "Entrega rápida e ótima qualidade. Adorei, compraria de novo com certeza.",
        "Chegou quebrado e o vendedor recusou o reembolso. Péssima qualidade, muito decepcionado.",
    ),
];

#[tokio::test(flavor = "multi_thread")]
async fn polar_reviews_in_six_languages_given_and_detected() -> Result<()> {
    let Some(db) = TestDatabase::create().await? else {
        return Ok(());
    };
    let workdir = tempfile::tempdir()?;
    let server = ServerProcess::start(
        "caravan-profiling",
        &[],
        &[("CARAVAN__DATABASE__URL", db.url.as_str())],
        workdir.path(),
    )?;
    let mut client = ProfilingServiceClient::new(server.channel().await?);

    for (language, positive, negative) in REVIEWS {
        for (text, polarity, sign) in [
            (positive, pb::SentimentPolarity::Positive, 1.0),
            (negative, pb::SentimentPolarity::Negative, -1.0),
        ] {
            for given in [language, ""] {
                let r = client
                    .analyze_sentiment(pb::AnalyzeSentimentRequest {
                        parent: M.to_owned(),
                        text: text.to_owned(),
                        language_code: given.to_owned(),
                    })
                    .await?
                    .into_inner();
                ensure!(r.language_code == language, "{language} {given:?}: {r:?}");
                ensure!(r.polarity == polarity as i32, "{language}: {text}: {r:?}");
                ensure!(r.score * sign > 0.1 && r.score.abs() <= 1.0, "{r:?}");
                ensure!(
                    r.magnitude >= r.score.abs() * 0.5 && r.magnitude > 0.0,
                    "{r:?}"
                );
                ensure!(r.method == pb::SentimentMethod::Model as i32);
            }
        }
    }

    // A regional tag is kept as given.
    let br = client
        .analyze_sentiment(pb::AnalyzeSentimentRequest {
            parent: M.to_owned(),
            text: REVIEWS[5].1.to_owned(),
            language_code: "pt-BR".to_owned(),
        })
        .await?
        .into_inner();
    ensure!(br.language_code == "pt-BR" && br.polarity == pb::SentimentPolarity::Positive as i32);

    let bad = client
        .analyze_sentiment(pb::AnalyzeSentimentRequest {
            parent: "acme".to_owned(),
            text: " ".to_owned(),
            language_code: "en_US".to_owned(),
        })
        .await
        .expect_err("invalid");
    ensure!(bad.code() == Code::InvalidArgument);
    ensure!(
        violated_fields(&bad) == ["parent", "text", "language_code"],
        "{bad:?}"
    );
    let unsupported = client
        .analyze_sentiment(pb::AnalyzeSentimentRequest {
            parent: M.to_owned(),
            text: "とても良い".to_owned(),
            language_code: "ja".to_owned(),
        })
        .await
        .expect_err("unsupported language");
    ensure!(violated_fields(&unsupported) == ["language_code"]);
    let too_long = client
        .analyze_sentiment(pb::AnalyzeSentimentRequest {
            parent: M.to_owned(),
            text: "a".repeat(20_001),
            language_code: String::new(),
        })
        .await
        .expect_err("too long");
    ensure!(violated_fields(&too_long) == ["text"]);
    Ok(())
}
