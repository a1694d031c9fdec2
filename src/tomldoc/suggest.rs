//! "Did you mean ...?" for misspelt keys and names.

/// `; did you mean "x"?` when a candidate is close to `input`, else nothing.
pub(crate) fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    closest(input, candidates)
        .map(|candidate| format!("; did you mean {candidate:?}?"))
        .unwrap_or_default()
}

/// The message for a key that is not allowed where it stands, the same in
/// every file orch reads. `place` ends the first part, e.g. `"in [defaults]"`.
pub(crate) fn unknown_key_message(name: &str, allowed: &[&str], place: &str) -> String {
    format!(
        "unknown key {name:?} {place} (expected one of: {}){}",
        allowed.join(", "),
        did_you_mean(name, allowed.iter().copied()),
    )
}

/// The candidate closest to `input`, if it is close enough to be a likely typo.
pub(crate) fn closest<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let input_lower = input.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == input {
            continue;
        }
        let distance = if candidate.to_lowercase() == input_lower {
            0
        } else {
            // Optimal string alignment: insertions, deletions, substitutions
            // and swaps of two neighbouring characters each cost 1, so the
            // common typo "retires" is one edit from "retries".
            strsim::osa_distance(&input_lower, &candidate.to_lowercase())
        };
        let longest = input.chars().count().max(candidate.chars().count());
        let limit = (longest / 3).max(1);
        let better = match best {
            Some((best_distance, _)) => distance < best_distance,
            None => true,
        };
        if distance <= limit && better {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        let edit_distance = strsim::osa_distance;
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("retires", "retries"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("cluade", "claude"), 1);
    }

    #[test]
    fn suggests_only_close_candidates() {
        let keys = ["retries", "backoff", "backoff_max", "timeout"];
        assert_eq!(closest("retires", keys), Some("retries"));
        assert_eq!(closest("Timeout", keys), Some("timeout"));
        assert_eq!(closest("backof_max", keys), Some("backoff_max"));
        assert_eq!(closest("colour", keys), None);
        assert_eq!(closest("x", ["y"]), Some("y"));
        assert_eq!(closest("xy", ["ab"]), None);
        assert_eq!(closest("retries", keys), None);
    }

    #[test]
    fn suggestions() {
        assert_eq!(closest("defualt", ["default", "vim"]), Some("default"));
        assert_eq!(closest("zzz", ["default", "vim"]), None);
        assert_eq!(did_you_mean("bold", ["bold"]), "");
    }
}
