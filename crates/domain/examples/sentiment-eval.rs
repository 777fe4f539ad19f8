//! Scores the comment-sentiment model against a human-rated set and prints the figures.
//!
//! ```sh
//! cargo run --release -p closeloop-domain --example sentiment-eval [GOLD.tsv]
//! ```
//!
//! GOLD.tsv defaults to `../shared/data/sentiment/amazon-review-snippets.dev.tsv` (lines `id TAB
//! rating TAB text`). Writes `target/sentiment-predictions.tsv` and runs the shared scorer
//! `../shared/tools/sentiment-eval` on it, once on the whole set and once on each half (odd and
//! even lines), so a reader sees how stable the figures are.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use closeloop_domain::triage::sentiment;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = workspace();
    let gold = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/data/sentiment/amazon-review-snippets.dev.tsv"));
    let tool = root.join("../shared/tools/sentiment-eval");
    let text = std::fs::read_to_string(&gold)
        .map_err(|e| format!("cannot read {}: {e}", gold.display()))?;
    let out_dir = root.join("target");
    std::fs::create_dir_all(&out_dir)?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut files = Vec::new();
    for (name, keep) in [("all", None), ("odd", Some(1)), ("even", Some(0))] {
        let gold_part = out_dir.join(format!("sentiment-gold-{name}.tsv"));
        let pred_part = out_dir.join(format!("sentiment-predictions-{name}.tsv"));
        let mut g = std::fs::File::create(&gold_part)?;
        let mut p = std::fs::File::create(&pred_part)?;
        for (n, line) in lines.iter().enumerate() {
            if keep.is_some_and(|k| (n + 1) % 2 != k) {
                continue;
            }
            let mut cols = line.splitn(3, '\t');
            let (Some(id), Some(_), Some(comment)) = (cols.next(), cols.next(), cols.next()) else {
                return Err(
                    format!("{}:{}: expected id, rating, text", gold.display(), n + 1).into(),
                );
            };
            writeln!(g, "{line}")?;
            writeln!(p, "{id}\t{:.4}", sentiment::score(comment))?;
        }
        files.push((name, gold_part, pred_part));
    }
    let started = std::time::Instant::now();
    let n = lines.len();
    for line in &lines {
        std::hint::black_box(sentiment::score(line.rsplit('\t').next().unwrap_or("")));
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "model: lexicon-and-rules (closeloop_domain::triage::sentiment), {n} comments scored in {:.1} ms",
        secs * 1e3
    );
    for (name, g, p) in files {
        let output = Command::new(&tool)
            .arg(&g)
            .arg(&p)
            .output()
            .map_err(|e| format!("cannot run {} (python3 needed): {e}", tool.display()))?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned().into());
        }
        print!("{name:>4}: {}", String::from_utf8_lossy(&output.stdout));
    }
    println!("targets: pearson_r >= 0.65 and weighted_f1 >= 0.68 (VADER: 0.569 and 0.614)");
    Ok(())
}
