//! A small sentiment lexicon (valences from -3 to 3, in the spirit of AFINN) and the word
//! lists the analysis needs. Sorted so lookups are binary searches.

const POSITIVE: &[(&str, f64)] = &[
    ("amazing", 3.0), ("awesome", 3.0), ("beautiful", 3.0), ("best", 3.0), ("brilliant", 3.0),
    ("calm", 1.0), ("clean", 1.0), ("clear", 1.0), ("comfortable", 2.0), ("cool", 1.0),
    ("delight", 3.0), ("delighted", 3.0), ("delightful", 3.0), ("easy", 1.0), ("effective", 2.0),
    ("efficient", 2.0), ("enjoy", 2.0), ("enjoyed", 2.0), ("excellent", 3.0), ("excited", 3.0),
    ("exciting", 3.0), ("fair", 1.0), ("fantastic", 3.0), ("fast", 1.0), ("fine", 1.0),
    ("fun", 2.0), ("glad", 2.0), ("good", 2.0), ("great", 3.0), ("happy", 3.0),
    ("helpful", 2.0), ("impressive", 3.0), ("improved", 2.0), ("like", 2.0), ("liked", 2.0),
    ("love", 3.0), ("loved", 3.0), ("lovely", 3.0), ("nice", 2.0), ("perfect", 3.0),
    ("pleasant", 2.0), ("pleased", 2.0), ("powerful", 2.0), ("recommend", 2.0), ("reliable", 2.0),
    ("safe", 1.0), ("satisfied", 2.0), ("secure", 2.0), ("simple", 1.0), ("smooth", 2.0),
    ("solid", 2.0), ("stable", 2.0), ("success", 2.0), ("successful", 3.0), ("superb", 3.0),
    ("thank", 2.0), ("thanks", 2.0), ("useful", 2.0), ("win", 3.0), ("wonderful", 3.0),
    ("works", 1.0),
];

const NEGATIVE: &[(&str, f64)] = &[
    ("angry", -3.0), ("annoying", -2.0), ("awful", -3.0), ("bad", -3.0), ("boring", -2.0),
    ("broken", -2.0), ("bug", -2.0), ("buggy", -2.0), ("confusing", -2.0), ("crash", -2.0),
    ("crashed", -2.0), ("crashes", -2.0), ("dangerous", -2.0), ("difficult", -1.0), ("disappointed", -2.0),
    ("disappointing", -2.0), ("dislike", -2.0), ("error", -2.0), ("fail", -2.0), ("failed", -2.0),
    ("failure", -2.0), ("fear", -2.0), ("frustrating", -2.0), ("hard", -1.0), ("hate", -3.0),
    ("horrible", -3.0), ("insecure", -2.0), ("leak", -2.0), ("lost", -2.0), ("painful", -2.0),
    ("poor", -2.0), ("problem", -2.0), ("problems", -2.0), ("sad", -2.0), ("slow", -2.0),
    ("terrible", -3.0), ("ugly", -3.0), ("unhappy", -2.0), ("unreliable", -2.0), ("unstable", -2.0),
    ("useless", -2.0), ("vulnerable", -2.0), ("waste", -2.0), ("worried", -2.0), ("worse", -3.0),
    ("worst", -3.0), ("wrong", -2.0),
];

const NEGATORS: &[&str] = &[
    "aint", "can't", "cannot", "didn't", "doesn't", "don't", "hardly", "isn't", "never", "no",
    "nor", "not", "nothing", "wasn't", "without", "won't",
];

const INTENSIFIERS: &[&str] = &[
    "absolutely", "extremely", "highly", "incredibly", "really", "so", "totally", "very",
];

const STOP_WORDS: &[&str] = &[
    "about", "above", "after", "again", "against", "all", "also", "and", "any", "are", "because",
    "been", "before", "being", "below", "between", "both", "but", "can", "could", "did", "does",
    "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have",
    "having", "her", "here", "hers", "herself", "him", "himself", "his", "how", "into", "its",
    "itself", "just", "more", "most", "much", "must", "myself", "not", "now", "off", "once",
    "only", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should",
    "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then",
    "there", "these", "they", "this", "those", "through", "too", "under", "until", "upon",
    "very", "was", "were", "what", "when", "where", "which", "while", "who", "whom", "why",
    "will", "with", "would", "you", "your", "yours", "yourself", "yourselves",
];

fn lookup(table: &[(&str, f64)], word: &str) -> Option<f64> {
    table
        .binary_search_by(|(w, _)| (*w).cmp(word))
        .ok()
        .map(|i| table[i].1)
}

/// The valence of `word`, if the lexicon knows it.
pub fn valence(word: &str) -> Option<f64> {
    lookup(POSITIVE, word).or_else(|| lookup(NEGATIVE, word))
}

/// Whether `word` negates what follows ("not", "never", ...).
pub fn is_negator(word: &str) -> bool {
    NEGATORS.binary_search(&word).is_ok()
}

/// Whether `word` strengthens what follows ("very", ...).
pub fn is_intensifier(word: &str) -> bool {
    INTENSIFIERS.binary_search(&word).is_ok()
}

/// Whether `word` carries no topic ("the", "which", ...).
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}
