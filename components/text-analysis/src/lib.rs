//! The `text-analysis` tool: sentiment, keywords and summaries with no capabilities.
//!
//! Deliberately dependency-free and deterministic: the same text always gives the same
//! answer, and the component stays small enough to instantiate in microseconds.

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "cordon:text-analysis/text-analysis@0.1.0",
    generate_all,
});

mod lexicon;

use cordon::tool::logging::{Level, log};
use std::collections::HashMap;

struct TextAnalysis;

export!(TextAnalysis);

const DEFAULT_KEYWORDS: u32 = 10;
const DEFAULT_SUMMARY_SENTENCES: u32 = 2;

/// Lower-cased words, keeping inner apostrophes ("don't").
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Sentences, split after `.`, `!` or `?` (and at line breaks), trimmed, empty ones dropped.
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes: Vec<(usize, char)> = text.char_indices().collect();
    for (i, &(pos, c)) in bytes.iter().enumerate() {
        let next_is_space = bytes.get(i + 1).is_none_or(|&(_, n)| n.is_whitespace());
        if (matches!(c, '.' | '!' | '?') && next_is_space) || c == '\n' {
            let end = pos + c.len_utf8();
            let s = text[start..end].trim();
            if !s.is_empty() && s.chars().any(char::is_alphanumeric) {
                out.push(s);
            }
            start = end;
        }
    }
    let rest = text[start..].trim();
    if !rest.is_empty() && rest.chars().any(char::is_alphanumeric) {
        out.push(rest);
    }
    out
}

fn score_sentiment(text: &str) -> SentimentScore {
    let ws = words(text);
    let mut total = 0.0f64;
    let mut positive = Vec::new();
    let mut negative = Vec::new();
    for (i, w) in ws.iter().enumerate() {
        let Some(mut value) = lexicon::valence(w) else { continue };
        // A negator within the three preceding words flips the polarity ("not good").
        let negated = ws[i.saturating_sub(3)..i]
            .iter()
            .any(|p| lexicon::is_negator(p));
        if negated {
            value = -value;
        }
        if i > 0 && lexicon::is_intensifier(&ws[i - 1]) {
            value *= 1.5;
        }
        total += value;
        if value > 0.0 {
            positive.push(w.clone());
        } else {
            negative.push(w.clone());
        }
    }
    // Normalise to [-1, 1] the way VADER does: x / sqrt(x^2 + alpha).
    let score = if total == 0.0 {
        0.0
    } else {
        total / (total * total + 15.0).sqrt()
    };
    let label = if score >= 0.05 {
        Polarity::Positive
    } else if score <= -0.05 {
        Polarity::Negative
    } else {
        Polarity::Neutral
    };
    SentimentScore {
        score: (score * 1000.0).round() / 1000.0,
        label,
        positive_words: positive,
        negative_words: negative,
    }
}

fn keyword_counts(text: &str) -> (Vec<Keyword>, usize) {
    let mut counts: HashMap<String, u32> = HashMap::new();
    let mut content_words = 0usize;
    for w in words(text) {
        if w.chars().count() < 3 || lexicon::is_stop_word(&w) || w.chars().all(|c| c.is_numeric()) {
            continue;
        }
        content_words += 1;
        *counts.entry(w).or_default() += 1;
    }
    let mut list: Vec<Keyword> = counts
        .into_iter()
        .map(|(word, count)| Keyword {
            score: if content_words == 0 {
                0.0
            } else {
                ((count as f64 / content_words as f64) * 1000.0).round() / 1000.0
            },
            word,
            count,
        })
        .collect();
    // Most frequent first; ties broken alphabetically so the answer is deterministic.
    list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.word.cmp(&b.word)));
    (list, content_words)
}

fn top_keywords(text: &str, limit: u32) -> Vec<Keyword> {
    let (mut list, _) = keyword_counts(text);
    list.truncate(limit as usize);
    list
}

fn summary(text: &str, n: u32) -> String {
    let all = sentences(text);
    if all.len() <= n as usize {
        return all.join(" ");
    }
    let (freq, _) = keyword_counts(text);
    let weight: HashMap<&str, u32> = freq.iter().map(|k| (k.word.as_str(), k.count)).collect();
    let mut scored: Vec<(usize, f64)> = all
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let ws = words(s);
            let sum: u32 = ws.iter().filter_map(|w| weight.get(w.as_str())).sum();
            // Dividing by sqrt(len) favours informative sentences without favouring long ones.
            let score = sum as f64 / (ws.len().max(1) as f64).sqrt();
            (i, score)
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut chosen: Vec<usize> = scored.iter().take(n as usize).map(|(i, _)| *i).collect();
    chosen.sort_unstable();
    chosen
        .into_iter()
        .map(|i| all[i])
        .collect::<Vec<_>>()
        .join(" ")
}

impl Guest for TextAnalysis {
    fn sentiment(text: String) -> SentimentScore {
        score_sentiment(&text)
    }

    fn keywords(text: String, limit: Option<u32>) -> Vec<Keyword> {
        top_keywords(&text, limit.unwrap_or(DEFAULT_KEYWORDS))
    }

    fn summarize(text: String, sentences: Option<u32>) -> String {
        summary(&text, sentences.unwrap_or(DEFAULT_SUMMARY_SENTENCES))
    }

    fn analyze(text: String) -> Analysis {
        let word_count = words(&text).len() as u32;
        let sentence_count = sentences(&text).len() as u32;
        log(
            Level::Debug,
            "analyzing text",
            &[
                ("words".into(), word_count.to_string()),
                ("sentences".into(), sentence_count.to_string()),
            ],
        );
        Analysis {
            sentiment: score_sentiment(&text),
            keywords: top_keywords(&text, 5),
            summary: summary(&text, DEFAULT_SUMMARY_SENTENCES),
            word_count,
            sentence_count,
        }
    }
}
