//! Run configuration from the environment, in k6's style and precedence:
//! a flag beats a `GAUNTLET_*` variable, which beats the `K6_*` variable of
//! the same meaning, which beats the plan (k6: defaults < script options <
//! environment < flags). A k6 user's CI variables (`K6_VUS=50`) keep working.

use crate::args::RunArgs;

/// One option read from the environment: its name after the prefix, and
/// whether k6 has it under `K6_<name>` with the same meaning.
struct EnvOption {
    name: &'static str,
    k6: bool,
}

/// Every option the environment may set, for `--help` and the docs.
const OPTIONS: &[EnvOption] = &[
    EnvOption {
        name: "VUS",
        k6: true,
    },
    EnvOption {
        name: "DURATION",
        k6: true,
    },
    EnvOption {
        name: "ITERATIONS",
        k6: true,
    },
    EnvOption {
        name: "RATE",
        k6: false,
    },
    EnvOption {
        name: "URL",
        k6: false,
    },
    EnvOption {
        name: "WORKERS",
        k6: false,
    },
    EnvOption {
        name: "SUMMARY_EXPORT",
        k6: true,
    },
    EnvOption {
        name: "SUMMARY_TREND_STATS",
        k6: true,
    },
    EnvOption {
        name: "NO_THRESHOLDS",
        k6: true,
    },
    EnvOption {
        name: "INSECURE_SKIP_TLS_VERIFY",
        k6: true,
    },
    EnvOption {
        name: "HTTP_DEBUG",
        k6: true,
    },
    EnvOption {
        name: "THROW",
        k6: true,
    },
    EnvOption {
        name: "QUIET",
        k6: true,
    },
    EnvOption {
        name: "OUT",
        k6: true,
    },
];

/// The value of option `name` from `GAUNTLET_<name>`, else `K6_<name>`,
/// as `(variable, value)`.
fn lookup(name: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<(String, String)> {
    let opt = OPTIONS.iter().find(|o| o.name == name)?;
    let ours = format!("GAUNTLET_{name}");
    if let Some(v) = env(&ours) {
        return Some((ours, v));
    }
    if opt.k6 {
        let theirs = format!("K6_{name}");
        if let Some(v) = env(&theirs) {
            return Some((theirs, v));
        }
    }
    None
}

fn number(var: &str, v: &str) -> Result<u64, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("{var}={v}: not a whole number"))
}

fn boolean(var: &str, v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(format!("{var}={v}: write true or false")),
    }
}

/// Fill every option of `args` that no flag set from the environment
/// (`env` is `std::env::var` in the binary, a map in tests).
pub(crate) fn apply_env(
    args: &mut RunArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    let o = &mut args.overrides;
    if o.vus.is_none()
        && let Some((var, v)) = lookup("VUS", env)
    {
        o.vus = Some(number(&var, &v)?);
    }
    if o.duration.is_none()
        && let Some((var, v)) = lookup("DURATION", env)
    {
        gauntlet_plan::duration::parse_duration(&v).map_err(|e| format!("{var}={v}: {e}"))?;
        o.duration = Some(v);
    }
    if o.iterations.is_none()
        && let Some((var, v)) = lookup("ITERATIONS", env)
    {
        o.iterations = Some(number(&var, &v)?);
    }
    if o.rate.is_none()
        && let Some((var, v)) = lookup("RATE", env)
    {
        o.rate = Some(number(&var, &v)?);
    }
    if o.url.is_none()
        && let Some((_, v)) = lookup("URL", env)
    {
        o.url = Some(v);
    }
    if args.workers.is_none()
        && let Some((var, v)) = lookup("WORKERS", env)
    {
        args.workers = Some(number(&var, &v)? as usize);
    }
    if args.summary_export.is_none()
        && let Some((_, v)) = lookup("SUMMARY_EXPORT", env)
    {
        args.summary_export = Some(v.into());
    }
    let k = &mut args.k6;
    if k.summary_trend_stats.is_none()
        && let Some((_, v)) = lookup("SUMMARY_TREND_STATS", env)
    {
        k.summary_trend_stats = Some(v);
    }
    if k.http_debug.is_none()
        && let Some((var, v)) = lookup("HTTP_DEBUG", env)
    {
        k.http_debug = match v.trim() {
            "full" => Some("full".into()),
            other => boolean(&var, other)?.then(|| "headers".into()),
        };
    }
    for (name, flag) in [
        ("NO_THRESHOLDS", &mut k.no_thresholds),
        ("INSECURE_SKIP_TLS_VERIFY", &mut k.insecure_skip_tls_verify),
        ("THROW", &mut k.throw),
        ("QUIET", &mut args.quiet),
    ] {
        if !*flag && let Some((var, v)) = lookup(name, env) {
            *flag = boolean(&var, &v)?;
        }
    }
    if args.out.is_empty()
        && let Some((_, v)) = lookup("OUT", env)
    {
        args.out = v.split(',').map(|s| s.trim().to_owned()).collect();
    }
    Ok(())
}

/// The environment variables [`apply_env`] reads.
#[cfg(test)]
fn variables() -> impl Iterator<Item = (String, Option<String>)> {
    OPTIONS.iter().map(|o| {
        (
            format!("GAUNTLET_{}", o.name),
            o.k6.then(|| format!("K6_{}", o.name)),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;
    use std::collections::HashMap;

    fn args(flags: &[&str]) -> RunArgs {
        let mut v = vec!["gauntlet", "run"];
        v.extend_from_slice(flags);
        match crate::args::Cli::parse_from(v).command {
            crate::args::Command::Run(r) => r,
            _ => unreachable!(),
        }
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn a_flag_beats_gauntlet_variables_which_beat_k6_variables() {
        let mut a = args(&["--vus", "3"]);
        apply_env(&mut a, &env(&[("GAUNTLET_VUS", "5"), ("K6_VUS", "7")])).unwrap();
        assert_eq!(a.overrides.vus, Some(3));
        let mut a = args(&[]);
        apply_env(&mut a, &env(&[("GAUNTLET_VUS", "5"), ("K6_VUS", "7")])).unwrap();
        assert_eq!(a.overrides.vus, Some(5));
        let mut a = args(&[]);
        apply_env(
            &mut a,
            &env(&[
                ("K6_VUS", "7"),
                ("K6_DURATION", "30s"),
                ("K6_NO_THRESHOLDS", "true"),
                ("K6_HTTP_DEBUG", "full"),
                ("K6_SUMMARY_EXPORT", "s.json"),
            ]),
        )
        .unwrap();
        assert_eq!(a.overrides.vus, Some(7));
        assert_eq!(a.overrides.duration.as_deref(), Some("30s"));
        assert!(a.k6.no_thresholds);
        assert_eq!(a.k6.http_debug.as_deref(), Some("full"));
        assert_eq!(a.summary_export, Some("s.json".into()));
    }

    #[test]
    fn an_option_k6_lacks_is_not_read_from_a_k6_variable() {
        let mut a = args(&[]);
        apply_env(&mut a, &env(&[("K6_WORKERS", "3"), ("K6_RATE", "10")])).unwrap();
        assert_eq!((a.workers, a.overrides.rate), (None, None));
    }

    #[test]
    fn run_help_lists_every_variable() {
        use clap::CommandFactory as _;
        let mut cli = crate::args::Cli::command();
        let help = cli
            .find_subcommand_mut("run")
            .unwrap()
            .render_long_help()
            .to_string();
        for (ours, theirs) in variables() {
            assert!(help.contains(&ours), "{ours} missing from run --help");
            if let Some(k6) = theirs {
                assert!(help.contains(&k6), "{k6} missing from run --help");
            }
        }
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let mut a = args(&[]);
        let e = apply_env(&mut a, &env(&[("K6_VUS", "many")])).unwrap_err();
        assert_eq!(e, "K6_VUS=many: not a whole number");
        let e = apply_env(&mut a, &env(&[("GAUNTLET_DURATION", "soon")])).unwrap_err();
        assert!(e.starts_with("GAUNTLET_DURATION=soon"), "{e}");
    }
}
