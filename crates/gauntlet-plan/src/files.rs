//! The files a plan names (data feeders, TLS certificates, multipart uploads),
//! read when the plan is validated.
//!
//! `gauntlet run` reads these files when it starts; a missing CA file or an
//! empty CSV found only then has no position and comes after the user was told
//! the plan is valid. Reading them here makes `gauntlet validate` refuse what
//! `gauntlet run` would refuse, with the `line:column` of the path. The checks
//! mirror what the run does with each file (gauntlet-engine's `data.rs` for
//! feeders, gauntlet-drivers' `tls.rs` for certificates) without keeping the
//! content: data rows are streamed, only column names are kept.

use crate::plan::DataFormat;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// Why a named file cannot be used: a message and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileProblem {
    /// What is wrong, naming the path that was looked at.
    pub(crate) message: String,
    /// What to do about it.
    pub(crate) help: String,
}

const RELATIVE_HELP: &str = "paths are relative to the directory of the plan file";

fn problem(message: String, help: impl Into<String>) -> FileProblem {
    FileProblem {
        message,
        help: help.into(),
    }
}

/// Open `path` as a regular file that this process may read.
fn open(path: &Path, what: &str) -> Result<File, FileProblem> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            problem(format!("{what} `{shown}` does not exist"), RELATIVE_HELP)
        }
        _ => problem(
            format!("{what} `{shown}` cannot be read: {e}"),
            RELATIVE_HELP,
        ),
    })?;
    if meta.is_dir() {
        return Err(problem(
            format!("{what} `{shown}` is a directory"),
            "name a file",
        ));
    }
    if !meta.is_file() {
        return Err(problem(
            format!("{what} `{shown}` is not a regular file"),
            "name a regular file (it is read once, when the run starts)",
        ));
    }
    File::open(path).map_err(|e| {
        problem(
            format!("{what} `{shown}` cannot be read: {e}"),
            "check the file's permissions",
        )
    })
}

/// A file to upload as a multipart part: it must exist and be readable.
pub(crate) fn check_upload(path: &Path) -> Result<(), FileProblem> {
    open(path, "upload file").map(|_| ())
}

/// The columns of a data feeder's file, read the way the run reads it: a CSV
/// with a header row (values trimmed) or a JSON array of objects (the union of
/// their keys). The file must have at least one row.
pub(crate) fn data_columns(path: &Path, format: DataFormat) -> Result<Vec<String>, FileProblem> {
    let file = open(path, "data file")?;
    let shown = path.display();
    let (columns, rows) = match format {
        DataFormat::Json => json_columns(BufReader::new(file)).map_err(|e| {
            problem(
                format!("data file `{shown}`: {e}"),
                "a JSON data file is an array of objects, e.g. [{\"user\": \"ann\"}, {\"user\": \"bob\"}]",
            )
        })?,
        _ => csv_columns(file).map_err(|m| {
            problem(
                format!("data file `{shown}`: {m}"),
                "a CSV data file starts with a header row naming its columns, e.g. `username,password`",
            )
        })?,
    };
    if rows == 0 {
        return Err(problem(
            format!("data file `{shown}` has no rows"),
            "add at least one row below the header (a feeder hands out rows; it cannot run empty)",
        ));
    }
    Ok(columns)
}

fn csv_columns(file: File) -> Result<(Vec<String>, usize), String> {
    // The same reader settings as the engine's loader, so both see the same columns.
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(BufReader::new(file));
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .map(str::to_owned)
        .collect();
    if headers.is_empty() {
        return Err("the file is empty: a CSV needs a header row naming its columns".into());
    }
    let mut record = csv::StringRecord::new();
    let mut rows = 0usize;
    loop {
        match rdr.read_record(&mut record) {
            Ok(true) => rows += 1,
            Ok(false) => break,
            Err(e) => return Err(format!("row {}: {e}", rows + 2)),
        }
    }
    Ok((headers, rows))
}

/// Keys of every object of a JSON array, streamed one item at a time.
fn json_columns(reader: impl std::io::Read) -> Result<(Vec<String>, usize), String> {
    use serde::de::{Deserializer, SeqAccess, Visitor};
    struct Columns;
    impl<'de> Visitor<'de> for Columns {
        type Value = Result<(BTreeSet<String>, usize), String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array of objects")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut keys = BTreeSet::new();
            let mut rows = 0usize;
            let mut not_object = None;
            // Read to the end even after a bad item: the parser insists on it.
            while let Some(item) = seq.next_element::<serde_json::Value>()? {
                match item {
                    serde_json::Value::Object(o) => keys.extend(o.into_iter().map(|(k, _)| k)),
                    _ => {
                        not_object.get_or_insert(rows);
                    }
                }
                rows += 1;
            }
            Ok(match not_object {
                Some(i) => Err(format!("item {i} is not an object")),
                None => Ok((keys, rows)),
            })
        }
    }
    let mut de = serde_json::Deserializer::from_reader(reader);
    let (keys, rows) = de.deserialize_any(Columns).map_err(|e| e.to_string())??;
    de.end().map_err(|e| e.to_string())?;
    Ok((keys.into_iter().collect(), rows))
}

/// A PEM file of certificates (CA list or client chain): at least one must parse.
pub(crate) fn check_certificates(path: &Path, what: &str) -> Result<(), FileProblem> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let bytes = read_small(path, what)?;
    let shown = path.display();
    let mut count = 0usize;
    for c in CertificateDer::pem_slice_iter(&bytes) {
        c.map_err(|e| {
            problem(
                format!("{what} `{shown}` is not valid PEM: {e}"),
                "certificates are PEM blocks from `-----BEGIN CERTIFICATE-----` to `-----END CERTIFICATE-----`",
            )
        })?;
        count += 1;
    }
    if count == 0 {
        return Err(problem(
            format!("{what} `{shown}` holds no PEM certificate"),
            "expected one or more `-----BEGIN CERTIFICATE-----` blocks",
        ));
    }
    Ok(())
}

/// A PEM private key (PKCS#8, PKCS#1 or SEC1), as the client certificate's key.
pub(crate) fn check_private_key(path: &Path) -> Result<(), FileProblem> {
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;
    let what = "client key file";
    let bytes = read_small(path, what)?;
    PrivateKeyDer::from_pem_slice(&bytes)
        .map(|_| ())
        .map_err(|e| {
            problem(
                format!(
                    "{what} `{}` holds no usable PEM private key: {e}",
                    path.display()
                ),
                "expected a `-----BEGIN PRIVATE KEY-----` (or RSA / EC PRIVATE KEY) block",
            )
        })
}

/// Largest certificate or key file read; PEM files are a few kilobytes.
const MAX_PEM_BYTES: u64 = 16 * 1024 * 1024;

fn read_small(path: &Path, what: &str) -> Result<Vec<u8>, FileProblem> {
    use std::io::Read;
    let file = open(path, what)?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            problem(
                format!("{what} `{}` cannot be read: {e}", path.display()),
                "check the file's permissions",
            )
        })?;
    if bytes.is_empty() {
        return Err(problem(
            format!("{what} `{}` is empty", path.display()),
            "expected PEM text (`-----BEGIN ...-----`)",
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_columns_are_the_trimmed_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("u.csv");
        std::fs::write(&p, "name , password\nann,pw\n").unwrap();
        assert_eq!(
            data_columns(&p, DataFormat::Csv).unwrap(),
            ["name", "password"]
        );
    }

    #[test]
    fn json_columns_are_the_union_of_the_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("u.json");
        std::fs::write(&p, r#"[{"a": 1}, {"b": {"c": 2}}]"#).unwrap();
        assert_eq!(data_columns(&p, DataFormat::Json).unwrap(), ["a", "b"]);
        std::fs::write(&p, r#"[{"a": 1}, 2]"#).unwrap();
        let e = data_columns(&p, DataFormat::Json).unwrap_err();
        assert!(e.message.contains("item 1 is not an object"), "{e:?}");
        std::fs::write(&p, r#"{"a": 1}"#).unwrap();
        let e = data_columns(&p, DataFormat::Json).unwrap_err();
        assert!(e.message.contains("array of objects"), "{e:?}");
    }

    #[test]
    fn a_csv_with_a_bad_row_names_the_row() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("u.csv");
        std::fs::write(&p, "a,b\n1,2\n3\n").unwrap();
        let e = data_columns(&p, DataFormat::Csv).unwrap_err();
        assert!(e.message.contains("row 3"), "{e:?}");
    }
}
