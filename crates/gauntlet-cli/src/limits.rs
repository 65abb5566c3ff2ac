//! What a run may ask of this machine: worker threads and the memory its
//! VUs need, checked before anything starts so that an impossible request
//! is a clear error, not an abort or a machine swapping for minutes.

/// Worker threads per CPU at most: the engine needs one thread per core;
/// more only adds switching, and thousands abort the process.
pub(crate) const WORKERS_PER_CPU: usize = 4;

/// Memory a VU holds during a run (its task, state, tag caches, one
/// keep-alive connection and its buffers): 10,000 VUs peak at 83 MiB of
/// which 14 MiB is the process (bench/RESULTS.md), rounded up.
pub(crate) const BYTES_PER_VU: u64 = 8 * 1024;

/// The process itself, before any VU.
pub(crate) const BASE_BYTES: u64 = 16 * 1024 * 1024;

/// The worker count to use: `asked`, or one per CPU; `Err` when `asked`
/// is more than [`WORKERS_PER_CPU`] per CPU.
pub(crate) fn workers(asked: Option<usize>, cpus: usize) -> Result<usize, String> {
    let cpus = cpus.max(1);
    let max = cpus * WORKERS_PER_CPU;
    match asked {
        None => Ok(cpus),
        Some(0) => Err("--workers 0: at least 1 is needed".into()),
        Some(n) if n > max => Err(format!(
            "--workers {n}: at most {max} on this machine ({WORKERS_PER_CPU} per CPU, {cpus} CPUs); one per CPU is the fastest"
        )),
        Some(n) => Ok(n),
    }
}

/// The memory a run with `vus` VUs at its peak is expected to need.
pub(crate) fn estimate_bytes(vus: u64) -> u64 {
    BASE_BYTES.saturating_add(vus.saturating_mul(BYTES_PER_VU))
}

/// What the memory check says about a run.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum MemoryVerdict {
    /// Fits comfortably (or nothing is known about the machine).
    Fits,
    /// Fits, but takes more than half of the available memory.
    Tight(String),
    /// Does not fit: refused unless forced.
    TooLarge(String),
}

/// Compare the estimate for `vus` with `available` bytes (`None`: unknown).
pub(crate) fn check_memory(vus: u64, available: Option<u64>) -> MemoryVerdict {
    let Some(available) = available else {
        return MemoryVerdict::Fits;
    };
    let need = estimate_bytes(vus);
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    if need > available {
        MemoryVerdict::TooLarge(format!(
            "{vus} VUs need about {:.1} GiB ({} KiB each), and {:.1} GiB is available; lower the VU count (or maxVUs), or pass --force to start anyway",
            gib(need),
            BYTES_PER_VU / 1024,
            gib(available)
        ))
    } else if need > available / 2 {
        MemoryVerdict::Tight(format!(
            "{vus} VUs need about {:.1} GiB of the {:.1} GiB available; response bodies that checks read come on top",
            gib(need),
            gib(available)
        ))
    } else {
        MemoryVerdict::Fits
    }
}

/// `MemAvailable` from /proc/meminfo, in bytes.
pub(crate) fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_are_bounded_per_cpu() {
        assert_eq!(workers(None, 2), Ok(2));
        assert_eq!(workers(Some(8), 2), Ok(8));
        let e = workers(Some(100_000), 2).unwrap_err();
        assert!(e.contains("at most 8"), "{e}");
        assert!(workers(Some(0), 2).is_err());
    }

    #[test]
    fn ten_million_vus_do_not_fit_in_24_gib() {
        let available = 24u64 << 30;
        match check_memory(10_000_000, Some(available)) {
            MemoryVerdict::TooLarge(m) => {
                assert!(m.contains("10000000 VUs need about 76.3 GiB"), "{m}");
                assert!(m.contains("--force"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(check_memory(10_000, Some(available)), MemoryVerdict::Fits);
        assert!(matches!(
            check_memory(2_000_000, Some(available)),
            MemoryVerdict::Tight(_)
        ));
        assert_eq!(check_memory(10_000_000, None), MemoryVerdict::Fits);
    }

    #[test]
    fn this_machine_reports_its_available_memory() {
        assert!(available_memory().is_some_and(|b| b > 0));
    }
}
