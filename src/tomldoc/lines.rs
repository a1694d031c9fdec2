//! Byte offsets to 1-based line and column, for every file orch parses
//! (`orch.toml`, keymaps, themes).

/// Where each line of a source text starts.
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(src: &str) -> Self {
        LineIndex {
            starts: std::iter::once(0)
                .chain(src.match_indices('\n').map(|(at, _)| at + 1))
                .collect(),
        }
    }

    /// 1-based line and column (in characters) of byte `offset` in `src`.
    pub(crate) fn position(&self, src: &str, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(src.len());
        while !src.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self
            .starts
            .partition_point(|&start| start <= offset)
            .saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let column = src[start..offset].chars().count() + 1;
        (line + 1, column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_and_lines() {
        let src = "ab\nçd\n\nx";
        let index = LineIndex::new(src);
        assert_eq!(index.position(src, 0), (1, 1));
        assert_eq!(index.position(src, 1), (1, 2));
        assert_eq!(index.position(src, 3), (2, 1));
        // After the two-byte 'ç': column 2.
        assert_eq!(index.position(src, 5), (2, 2));
        // Inside a multi-byte character: its start.
        assert_eq!(index.position(src, 4), (2, 1));
        assert_eq!(index.position(src, src.len()), (4, 2));
    }
}
