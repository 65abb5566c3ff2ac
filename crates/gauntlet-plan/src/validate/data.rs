//! `data:`: the data feeders, whose files are read at validation for their
//! columns.

use super::{Validator, check_identifier};
use crate::decode::{Fields, named_entries, string};
use crate::diagnostic::did_you_mean;
use crate::files::{self};
use crate::node::Node;
use crate::plan::*;

pub(crate) const FEEDER_KEYS: &[&str] = &["file", "format", "mode", "onExhausted"];

/// A feeder's columns, read from its file at validation.
pub(super) struct FeederColumns {
    pub(super) name: String,
    pub(super) file: String,
    pub(super) columns: Vec<String>,
}

impl Validator<'_> {
    pub(super) fn feeders(&mut self, node: &Node) -> Vec<Feeder> {
        let mut out = Vec::new();
        for (k, n) in named_entries(node, &mut self.diags, "data") {
            let base = self.base.as_deref();
            let diags = &mut self.diags;
            let Some(mut f) = Fields::new(n, diags, "data feeder", FEEDER_KEYS) else {
                continue;
            };
            check_identifier(diags, &k.name, k.span, "data feeder");
            let file = f
                .require(
                    "file",
                    diags,
                    "path of a CSV or JSON file, relative to the plan",
                )
                .and_then(|n| string(n, diags, "file"));
            let format = match f.get("format").and_then(|n| string(n, diags, "format")) {
                Some(s) => match s.value.as_str() {
                    "csv" => Some(DataFormat::Csv),
                    "json" => Some(DataFormat::Json),
                    other => {
                        diags.error_help(
                            s.span,
                            format!("unknown data format `{other}`"),
                            "use csv or json",
                        );
                        None
                    }
                },
                None => file.as_ref().map(|f| {
                    if f.value.to_ascii_lowercase().ends_with(".json") {
                        DataFormat::Json
                    } else {
                        DataFormat::Csv
                    }
                }),
            };
            let mode = match f.get("mode").and_then(|n| string(n, diags, "mode")) {
                Some(s) => match s.value.as_str() {
                    "sequential" => FeedMode::Sequential,
                    "per-vu" => FeedMode::PerVu,
                    "random" => FeedMode::Random,
                    "unique" => FeedMode::Unique,
                    "circular" => FeedMode::Circular,
                    other => {
                        let h = did_you_mean(
                            other,
                            ["sequential", "per-vu", "random", "unique", "circular"],
                        );
                        diags.error_help(
                            s.span,
                            format!("unknown feeder mode `{other}`"),
                            match h {
                                Some(h) => format!("did you mean `{h}`?"),
                                None => "use sequential, per-vu, random, unique or circular".into(),
                            },
                        );
                        FeedMode::Sequential
                    }
                },
                None => FeedMode::Sequential,
            };
            let on_exhausted = match f
                .get("onExhausted")
                .and_then(|n| string(n, diags, "onExhausted"))
            {
                Some(s) => match s.value.as_str() {
                    "recycle" => OnExhausted::Recycle,
                    "stop-vu" => OnExhausted::StopVu,
                    "stop-test" => OnExhausted::StopTest,
                    other => {
                        diags.error_help(
                            s.span,
                            format!("unknown onExhausted `{other}`"),
                            "use recycle, stop-vu or stop-test",
                        );
                        OnExhausted::Recycle
                    }
                },
                None if mode == FeedMode::Unique => OnExhausted::StopVu,
                None => OnExhausted::Recycle,
            };
            f.finish(diags);
            if let (Some(file), Some(format), Some(base)) = (&file, format, base) {
                // Read now what the run reads when it starts: a missing file,
                // an empty one, and the columns templates may use.
                match files::data_columns(&base.join(&file.value), format) {
                    Ok(columns) => self.feeder_columns.push(FeederColumns {
                        name: k.name.clone(),
                        file: file.value.clone(),
                        columns,
                    }),
                    Err(p) => diags.error_help(file.span, p.message, p.help),
                }
            }
            if let (Some(file), Some(format)) = (file, format) {
                out.push(Feeder {
                    name: k.name.clone(),
                    file: file.value,
                    format,
                    mode,
                    on_exhausted,
                });
            }
        }
        out
    }
}
