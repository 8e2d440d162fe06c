//! Trains the review-sentiment model from the labelled files and reports held-out accuracy.
//!
//! ```text
//! cargo run --release -p caravan-profiling --bin caravan-train-sentiment -- \
//!     --data data/reviews --out services/profiling/models/sentiment-v1.bin \
//!     --report target/sentiment-report.md
//! cargo run --release -p caravan-profiling --bin caravan-train-sentiment -- \
//!     --data data/reviews --evaluate
//! # Shipped (embedded) model on a labelled file never used in training; no training:
//! scripts/fetch-pattern-reviews.sh
//! cargo run --release -p caravan-profiling --bin caravan-train-sentiment -- \
//!     --evaluate-external .tools/datasets/pattern-reviews/polarity-de-amazon.csv --language de
//! ```

use std::path::PathBuf;

use anyhow::Context;
use caravan_profiling::sentiment::{Language, embedded_model, external_eval, training};
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "caravan-train-sentiment",
    about = "Train and evaluate review sentiment"
)]
struct Args {
    /// Directory holding the labelled *.csv.gz files.
    #[arg(long, default_value = "data/reviews")]
    data: PathBuf,
    /// Where to write the model file.
    #[arg(long, default_value = "services/profiling/models/sentiment-v1.bin")]
    out: PathBuf,
    /// Where to write the markdown report.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Only print held-out (cross-validated) accuracy; write nothing.
    #[arg(long)]
    evaluate: bool,
    /// Score this labelled two-column CSV (label,text or text,label; 1/-1) with the
    /// embedded model instead of training; needs --language.
    #[arg(long, value_name = "CSV", requires = "language")]
    evaluate_external: Option<PathBuf>,
    /// Language of the --evaluate-external file (en, zh, es, de, fr, pt).
    #[arg(long)]
    language: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(path) = &args.evaluate_external {
        return evaluate_external(path, args.language.as_deref().unwrap_or_default());
    }
    let files = training::load_dir(&args.data)?;
    let cfg = training::Config::default();
    let outcome = training::run(&files, &cfg, &mut |m| eprintln!("{m}"));
    let bytes = outcome.model.to_bytes()?;
    let report = training::report(&files, &outcome, Some(bytes.len()));
    if !args.evaluate {
        std::fs::write(&args.out, &bytes)?;
        eprintln!("wrote {} ({} bytes)", args.out.display(), bytes.len());
        if let Some(path) = &args.report {
            std::fs::write(path, &report)?;
            eprintln!("wrote {}", path.display());
        }
    }
    print!("{report}");
    Ok(())
}

/// Scores an external labelled file with the embedded model and prints the report.
fn evaluate_external(path: &std::path::Path, language: &str) -> anyhow::Result<()> {
    let language =
        Language::parse(language).with_context(|| format!("unsupported language {language:?}"))?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let set = external_eval::parse_labelled_csv(&text)
        .with_context(|| format!("parsing {}", path.display()))?;
    let model = embedded_model().map_err(|e| anyhow::anyhow!("embedded model: {e}"))?;
    let eval = external_eval::evaluate(model, &set, language);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    print!("{}", external_eval::report(&name, &set, &eval));
    Ok(())
}
