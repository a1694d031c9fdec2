//! Reading a file orch parses as text: a byte that is not UTF-8 is
//! reported at its line and column, like any other problem in the file.

use std::path::Path;

use super::error::ConfigError;
use super::lines::LineIndex;

/// The text of the file at `path`. An unreadable file gives an error about
/// the whole file (`cannot read: ...`); one that is not UTF-8, an error at
/// the first bad byte.
pub(crate) fn read_text(path: &Path) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path)
        .map_err(|error| ConfigError::whole_file(path, format!("cannot read: {error}")))?;
    text_of(bytes, path)
}

/// `bytes` as text, or an error at the first byte that is not UTF-8.
pub(crate) fn text_of(bytes: Vec<u8>, path: &Path) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|error| {
        let utf8 = error.utf8_error();
        let bytes = error.as_bytes();
        let valid_up_to = utf8.valid_up_to();
        // Everything before `valid_up_to` is UTF-8: that is what it means.
        let prefix = std::str::from_utf8(&bytes[..valid_up_to]).unwrap_or_default();
        let (line, column) = LineIndex::new(prefix).position(prefix, valid_up_to);
        let bad = bytes.get(valid_up_to).copied().unwrap_or_default();
        let problem = match utf8.error_len() {
            Some(_) => format!("byte 0x{bad:02X} is not valid here"),
            None => format!("the file ends inside a character (byte 0x{bad:02X})"),
        };
        ConfigError {
            file: path.to_path_buf(),
            line,
            column,
            message: format!("invalid UTF-8: {problem}; save the file as UTF-8"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(bytes: &[u8]) -> String {
        match text_of(bytes.to_vec(), Path::new("orch.toml")) {
            Ok(text) => panic!("accepted {text:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn bad_bytes_are_reported_where_they_are() {
        assert_eq!(
            error_of(b"[project]\nbase_branch = \"caf\xE9\"\n"),
            "orch.toml:2:19: invalid UTF-8: byte 0xE9 is not valid here; save the file as UTF-8"
        );
        // Columns count the characters before it.
        assert_eq!(
            error_of(
                "# é\n\u{e9}\u{e9} "
                    .as_bytes()
                    .iter()
                    .copied()
                    .chain([0xFF])
                    .collect::<Vec<u8>>()
                    .as_slice()
            ),
            "orch.toml:2:4: invalid UTF-8: byte 0xFF is not valid here; save the file as UTF-8"
        );
        assert_eq!(
            error_of(b"x = 1\n\xC3"),
            "orch.toml:2:1: invalid UTF-8: the file ends inside a character (byte 0xC3); save the file as UTF-8"
        );
        assert_eq!(
            text_of("ok = \"é\"".as_bytes().to_vec(), Path::new("orch.toml")),
            Ok("ok = \"é\"".to_owned())
        );
    }
}
