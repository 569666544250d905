//! Labels: the names users give their apps, tokens, passkeys and app passwords.

/// Longest label.
pub const MAX_LABEL_LEN: usize = 32;

/// What is wrong with an app label, if anything.
pub fn label_problem(label: &str) -> Option<String> {
    let fine = !label.is_empty()
        && label.len() <= MAX_LABEL_LEN
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    (!fine).then(|| {
        format!(
            "label must be 1 to {MAX_LABEL_LEN} letters, digits, dots, dashes or underscores, got {label:?}"
        )
    })
}
