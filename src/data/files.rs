//! File helpers shared by the binary-record loaders.

use std::collections::HashMap;
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
/// lines. Each name comes with its 1-based line number, blank lines counted.
pub(crate) fn parse_class_names(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty())
        .map(|(line_number, name)| (line_number, name.to_owned()))
        .collect()
}

/// Reads class names from `dir/file_name` when that file exists, else from the shipped
/// `fallback` text, and checks that there are exactly `expected` of them, all different.
pub(crate) fn class_names(
    dir: &Path,
    file_name: &str,
    fallback: &str,
    expected: usize,
) -> Result<Vec<String>, DataError> {
    let path = dir.join(file_name);
    if !path.is_file() {
        let names: Vec<String> = parse_class_names(fallback)
            .into_iter()
            .map(|(_, name)| name)
            .collect();
        debug_assert_eq!(names.len(), expected, "shipped class names for {file_name}");
        return Ok(names);
    }

    let text = std::fs::read_to_string(&path).map_err(|source| DataError::Read {
        path: path.clone(),
        source,
    })?;
    let numbered_names = parse_class_names(&text);
    check_unique_names(&path, &numbered_names)?;
    if numbered_names.len() != expected {
        return Err(DataError::ClassNameCount {
            path,
            found: numbered_names.len(),
            expected,
        });
    }
    Ok(numbered_names.into_iter().map(|(_, name)| name).collect())
}

/// Rejects the first name that repeats an earlier one, naming both lines.
fn check_unique_names(path: &Path, numbered_names: &[(usize, String)]) -> Result<(), DataError> {
    let mut first_lines: HashMap<&str, usize> = HashMap::new();
    for (line_number, name) in numbered_names {
        if let Some(&first_line) = first_lines.get(name.as_str()) {
            return Err(DataError::DuplicateClassName {
                path: path.to_path_buf(),
                name: name.clone(),
                first_line,
                second_line: *line_number,
            });
        }
        first_lines.insert(name, *line_number);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{check_unique_names, parse_class_names, DataError};

    #[test]
    fn class_names_skip_blank_lines_and_trim() {
        let names = parse_class_names("  cat \n\n\tdog\r\n \nemu");
        let expected = [(1, "cat"), (3, "dog"), (5, "emu")]
            .map(|(line_number, name)| (line_number, name.to_owned()));
        assert_eq!(names, expected);
    }

    #[test]
    fn duplicate_name_reports_both_lines() {
        let names = parse_class_names("cat\ndog\n\ncat\n");
        let error = check_unique_names(Path::new("names.txt"), &names).unwrap_err();
        assert!(
            matches!(
                &error,
                DataError::DuplicateClassName {
                    first_line: 1,
                    second_line: 4,
                    ..
                }
            ),
            "{error:?}"
        );
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
            let names = parse_class_names(text);
            assert_eq!(names.len(), expected);
            assert!(check_unique_names(Path::new("shipped"), &names).is_ok());
        }
    }
}
