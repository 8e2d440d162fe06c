//! Trains the review-sentiment model from the labelled files and reports held-out accuracy.
//!
//! ```text
//! cargo run --release -p caravan-profiling --bin caravan-train-sentiment -- \
//!     --data ../shared/data/reviews --out services/profiling/models/sentiment-v1.bin \
//!     --report target/sentiment-report.md
//! cargo run --release -p caravan-profiling --bin caravan-train-sentiment -- \
//!     --data ../shared/data/reviews --evaluate
//! ```

use std::path::PathBuf;

use caravan_profiling::sentiment::training;
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "caravan-train-sentiment",
    about = "Train and evaluate review sentiment"
)]
struct Args {
    /// Directory holding the labelled *.csv.gz files.
    #[arg(long, default_value = "../shared/data/reviews")]
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
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
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
