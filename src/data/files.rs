//! File helpers shared by the binary-record loaders.

use std::path::{Path, PathBuf};

use super::DataError;

/// Reads a whole file, naming it in the error.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| DataError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Returns `dir/name`, or a `MissingFile` error naming `layout` when nothing exists there.
pub(crate) fn required_file(
    dir: &Path,
    name: &str,
    layout: &'static str,
) -> Result<PathBuf, DataError> {
    let path = dir.join(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(DataError::MissingFile { path, layout })
    }
}

/// Reads a file of fixed-size records and checks that it contains at least one whole record.
pub(crate) fn read_records(
    path: &Path,
    record_len: usize,
    format: &'static str,
) -> Result<Vec<u8>, DataError> {
    let bytes = read_file(path)?;
    if bytes.is_empty() {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    if bytes.len() % record_len != 0 {
        return Err(DataError::RecordSize {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            record_len,
            format,
        });
    }
    Ok(bytes)
}

/// Splits class-name text into names, one per line, trimming whitespace and skipping blank
/// lines.
pub(crate) fn parse_class_names(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Reads class names from `dir/file_name` when that file exists, else from the shipped
/// `fallback` text, and checks that there are exactly `expected` of them.
pub(crate) fn class_names(
    dir: &Path,
    file_name: &str,
    fallback: &str,
    expected: usize,
) -> Result<Vec<String>, DataError> {
    let path = dir.join(file_name);
    if !path.is_file() {
        let names = parse_class_names(fallback);
        debug_assert_eq!(names.len(), expected, "shipped class names for {file_name}");
        return Ok(names);
    }

    let text = std::fs::read_to_string(&path).map_err(|source| DataError::Read {
        path: path.clone(),
        source,
    })?;
    let names = parse_class_names(&text);
    if names.len() != expected {
        return Err(DataError::ClassNameCount {
            path,
            found: names.len(),
            expected,
        });
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::parse_class_names;

    #[test]
    fn class_names_skip_blank_lines_and_trim() {
        let names = parse_class_names("  cat \n\n\tdog\r\n \nemu");
        assert_eq!(names, vec!["cat", "dog", "emu"]);
    }

    #[test]
    fn shipped_names_have_official_counts() {
        let counts = [
            (include_str!("../../assets/cifar10_label_names.txt"), 10),
            (
                include_str!("../../assets/cifar100_fine_label_names.txt"),
                100,
            ),
            (
                include_str!("../../assets/cifar100_coarse_label_names.txt"),
                20,
            ),
        ];
        for (text, expected) in counts {
            assert_eq!(parse_class_names(text).len(), expected);
        }
    }
}
