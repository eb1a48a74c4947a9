//! The generated data: conversations of a few KB and hex strings, the
//! same for the same seed.

use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};

/// Syllables the generated text is made of.
pub(super) const SYLLABLES: [&str; 24] = [
    "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "zen", "tor", "pla", "qui", "dra", "fen",
    "gal", "hos", "jun", "mer", "nol", "pri", "sul", "tek", "vim", "wex",
];

/// `n` generated words in sentences.
pub(super) fn text(rng: &mut StdRng, n: usize) -> String {
    let mut out = String::with_capacity(n * 7);
    let mut sentence_left = 0;
    for _ in 0..n {
        let capital = sentence_left == 0;
        if capital {
            if !out.is_empty() {
                out.push_str(". ");
            }
            sentence_left = rng.gen_range(6..16);
        } else {
            out.push(' ');
        }
        let start = out.len();
        for _ in 0..rng.gen_range(1..=3) {
            out.push_str(SYLLABLES[rng.gen_range(0..SYLLABLES.len())]);
        }
        if capital {
            out[start..start + 1].make_ascii_uppercase();
        }
        sentence_left -= 1;
    }
    out.push('.');
    out
}

/// A chat of 3 to 5 user/assistant turns after a system prompt, a few KB
/// of JSON.
pub(super) fn conversation(rng: &mut StdRng) -> Value {
    let mut messages = vec![json!({"role": "system", "content": text(rng, 30)})];
    for _ in 0..rng.gen_range(3..=5) {
        let prompt = rng.gen_range(30..80);
        let answer = rng.gen_range(80..200);
        messages.push(json!({"role": "user", "content": text(rng, prompt)}));
        messages.push(json!({
            "role": "assistant",
            "content": text(rng, answer),
            "usage": {"prompt_tokens": prompt * 2, "completion_tokens": answer * 2},
        }));
    }
    Value::Array(messages)
}

/// `n` hex digits.
pub(super) fn hex(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::super::workload::iteration_seed;
    use super::*;

    #[test]
    fn conversations_are_deterministic_and_a_few_kb() {
        let a = conversation(&mut StdRng::seed_from_u64(iteration_seed(7, 3)));
        let b = conversation(&mut StdRng::seed_from_u64(iteration_seed(7, 3)));
        let c = conversation(&mut StdRng::seed_from_u64(iteration_seed(8, 3)));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let size = a.to_string().len();
        assert!((1_000..20_000).contains(&size), "{size} bytes");
        assert!(a.as_array().is_some_and(|m| m.len() >= 7));
    }
}
