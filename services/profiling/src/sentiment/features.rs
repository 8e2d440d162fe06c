//! Feature extraction for the sentiment classifier and the language identifier.
//!
//! Alphabetic languages (en, de, es, fr, pt): lower-cased word tokens, split into clauses at
//! punctuation; word unigrams (marked `!` inside a negation scope: the up to three tokens
//! after a negator, stopping at the clause end), word bigrams within a clause, and character
//! 2–5-grams of each word padded with `<` and `>` (fastText-style word boundaries).
//!
//! Chinese: character 1–4-grams within each run of non-punctuation characters, plus the one
//! and two characters after a negator (不 没 别 无 未 非 勿) marked as negated.
//!
//! Every feature string is hashed (FNV-1a 64 with a final mix) into `2^bits` buckets; a text's
//! features are the sorted, de-duplicated bucket indices (binary presence).

use super::Language;

/// Hash buckets per sentiment model: 2^18.
pub const SENTIMENT_BITS: u8 = 18;

/// Words that open a negation scope, per language (compared after lower-casing).
pub fn negators(language: Language) -> &'static [&'static str] {
    match language {
        Language::En => &[
            "not", "no", "never", "nor", "nothing", "nobody", "none", "neither", "without",
            "cannot", "hardly", "barely", "dont", "didnt", "doesnt", "isnt", "wasnt", "wont",
            "cant", "couldnt", "shouldnt", "wouldnt", "arent", "werent", "havent", "hasnt",
        ],
        Language::De => &[
            "nicht", "kein", "keine", "keinen", "keinem", "keiner", "keines", "nie", "niemals",
            "nichts", "ohne", "weder", "kaum",
        ],
        Language::Es => &[
            "no", "nunca", "jamás", "jamas", "ni", "nada", "nadie", "ninguno", "ninguna", "ningún",
            "sin", "tampoco",
        ],
        Language::Fr => &[
            "ne", "n", "pas", "jamais", "rien", "aucun", "aucune", "sans", "ni", "guère",
        ],
        Language::Pt => &[
            "não", "nao", "nunca", "jamais", "nem", "nada", "ninguém", "nenhum", "nenhuma", "sem",
        ],
        Language::Zh => &["不", "没", "别", "无", "未", "非", "勿"],
    }
}

/// One word of a text, with whether it lies in a negation scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    pub negated: bool,
}

/// Maximum number of tokens a negator's scope covers.
const NEGATION_SCOPE: usize = 3;

fn is_negator(language: Language, word: &str) -> bool {
    if language == Language::En && word.ends_with("n't") {
        return true;
    }
    negators(language).contains(&word)
}

/// Lower-cased word tokens grouped into clauses, with negation scopes marked.
///
/// English keeps in-word apostrophes (`don't`); the other languages split at them
/// (`n'est` → `n`, `est`), so French elided negation is seen.
pub fn clauses(language: Language, text: &str) -> Vec<Vec<Token>> {
    let mut out: Vec<Vec<Token>> = Vec::new();
    let mut clause: Vec<String> = Vec::new();
    let mut word = String::new();
    let chars: Vec<char> = text
        .chars()
        .map(|c| if c == '’' || c == '`' { '\'' } else { c })
        .collect();
    let flush_word = |word: &mut String, clause: &mut Vec<String>| {
        if !word.is_empty() {
            clause.push(std::mem::take(word));
        }
    };
    for (i, &c) in chars.iter().enumerate() {
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else if c == '\'' {
            let next_alpha = chars.get(i + 1).is_some_and(|n| n.is_alphabetic());
            if language == Language::En && !word.is_empty() && next_alpha {
                word.push('\'');
            } else {
                flush_word(&mut word, &mut clause);
            }
        } else if c.is_whitespace() || c == '-' || c == '/' {
            flush_word(&mut word, &mut clause);
        } else {
            flush_word(&mut word, &mut clause);
            if !clause.is_empty() {
                out.push(std::mem::take(&mut clause).into_iter().map(plain).collect());
            }
        }
    }
    flush_word(&mut word, &mut clause);
    if !clause.is_empty() {
        out.push(clause.into_iter().map(plain).collect());
    }
    for clause in &mut out {
        let mut scope = 0;
        for token in clause.iter_mut() {
            if is_negator(language, &token.text) {
                scope = NEGATION_SCOPE;
            } else if scope > 0 {
                token.negated = true;
                scope -= 1;
            }
        }
    }
    out
}

fn plain(text: String) -> Token {
    Token {
        text,
        negated: false,
    }
}

/// Runs of Chinese text between punctuation and whitespace, lower-cased.
fn cjk_runs(text: &str) -> Vec<Vec<char>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            run.extend(c.to_lowercase());
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// The feature strings of a text (before hashing); exposed for tests and inspection.
pub fn feature_strings(language: Language, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    if language == Language::Zh {
        let negs = negators(Language::Zh);
        for run in cjk_runs(text) {
            for n in 1..=4usize {
                for gram in run.windows(n) {
                    out.push(format!("c:{}", gram.iter().collect::<String>()));
                }
            }
            for (i, c) in run.iter().enumerate() {
                let mut buf = [0u8; 4];
                if negs.contains(&&*c.encode_utf8(&mut buf)) {
                    for n in 1..=2usize {
                        if i + n < run.len() {
                            out.push(format!(
                                "n:{}",
                                run[i + 1..=i + n].iter().collect::<String>()
                            ));
                        }
                    }
                }
            }
        }
        return out;
    }
    for clause in clauses(language, text) {
        for token in &clause {
            if token.negated {
                out.push(format!("w:!{}", token.text));
            } else {
                out.push(format!("w:{}", token.text));
            }
            let padded: Vec<char> = std::iter::once('<')
                .chain(token.text.chars().take(30))
                .chain(std::iter::once('>'))
                .collect();
            for n in 2..=5usize {
                for gram in padded.windows(n) {
                    out.push(format!("c:{}", gram.iter().collect::<String>()));
                }
            }
        }
        for pair in clause.windows(2) {
            out.push(format!("b:{} {}", pair[0].text, pair[1].text));
        }
    }
    out
}

/// FNV-1a 64 with a final avalanche (splitmix64 finaliser); stable across platforms.
pub fn hash64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Bucket index of a feature string.
pub fn bucket(feature: &str, bits: u8) -> u32 {
    // Truncation is intended: the mask keeps the low `bits` (< 32) bits.
    (hash64(feature.as_bytes()) & ((1u64 << bits) - 1)) as u32
}

/// Sorted, de-duplicated bucket indices of a text's sentiment features.
pub fn sentiment_features(language: Language, text: &str, bits: u8) -> Vec<u32> {
    let mut idx: Vec<u32> = feature_strings(language, text)
        .iter()
        .map(|f| bucket(f, bits))
        .collect();
    idx.sort_unstable();
    idx.dedup();
    idx
}

/// Character trigrams for language identification: letters only, lower-cased, each word
/// padded with a space on both sides.
pub fn langid_trigrams(text: &str, bits: u8) -> Vec<u32> {
    let mut norm = vec![' '];
    for c in text.chars() {
        if c.is_alphabetic() {
            norm.extend(c.to_lowercase());
        } else if norm.last() != Some(&' ') {
            norm.push(' ');
        }
    }
    if norm.last() != Some(&' ') {
        norm.push(' ');
    }
    norm.windows(3)
        .filter(|w| w[1] != ' ')
        .map(|w| bucket(&w.iter().collect::<String>(), bits))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negation_scope_marks_following_words_until_clause_end() {
        let c = clauses(Language::En, "This is not good at all, but fine.");
        let neg: Vec<(&str, bool)> = c[0].iter().map(|t| (t.text.as_str(), t.negated)).collect();
        assert_eq!(
            neg,
            vec![
                ("this", false),
                ("is", false),
                ("not", false),
                ("good", true),
                ("at", true),
                ("all", true)
            ]
        );
        assert!(c[1].iter().all(|t| !t.negated), "scope stops at the comma");
        let f = feature_strings(Language::En, "I don't like it");
        assert!(f.contains(&"w:!like".to_string()), "{f:?}");
        assert!(f.contains(&"w:don't".to_string()));
    }

    #[test]
    fn negation_in_other_languages() {
        let f = feature_strings(Language::Fr, "Ce n'est pas bon");
        assert!(f.contains(&"w:!est".to_string()), "{f:?}");
        assert!(f.contains(&"w:!bon".to_string()), "{f:?}");
        let f = feature_strings(Language::De, "Das ist nicht gut");
        assert!(f.contains(&"w:!gut".to_string()));
        let f = feature_strings(Language::Pt, "Não gostei do produto");
        assert!(f.contains(&"w:!gostei".to_string()));
        let f = feature_strings(Language::Es, "Nunca llegó");
        assert!(f.contains(&"w:!llegó".to_string()));
    }

    #[test]
    fn word_boundary_char_ngrams_and_bigrams() {
        let f = feature_strings(Language::En, "Great quality");
        for want in [
            "c:<g",
            "c:<gre",
            "c:ty>",
            "c:lity>",
            "b:great quality",
            "w:great",
        ] {
            assert!(f.contains(&want.to_string()), "missing {want}: {f:?}");
        }
        assert!(
            !f.iter().any(|s| s.starts_with("c:") && s.contains(' ')),
            "no character n-gram crosses words"
        );
    }

    #[test]
    fn cjk_ngrams_one_to_four_and_negation() {
        let f = feature_strings(Language::Zh, "质量不好，退款");
        for want in [
            "c:质",
            "c:质量",
            "c:质量不",
            "c:质量不好",
            "c:不好",
            "c:退款",
            "n:好",
        ] {
            assert!(f.contains(&want.to_string()), "missing {want}: {f:?}");
        }
        assert!(
            !f.contains(&"c:好退".to_string()),
            "n-grams stop at punctuation"
        );
    }

    #[test]
    fn hashing_is_stable_and_in_range() {
        assert_eq!(bucket("w:good", 18), bucket("w:good", 18));
        assert!(bucket("w:good", 18) < 1 << 18);
        let f = sentiment_features(Language::En, "good good good", 18);
        assert!(f.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
    }
}
