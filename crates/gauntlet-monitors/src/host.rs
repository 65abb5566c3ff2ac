//! This machine and chosen processes, read from `/proc` (Linux).
//!
//! The host monitor answers two questions a report must be able to tell
//! apart: was the *service* short of CPU, memory, disk or network, and was
//! the *generator* itself the limit. So the generator's own process is always
//! sampled beside the processes a plan names.
//!
//! A sample is a set of cumulative counters read at one instant; readings are
//! differences over the time between two samples. Reading `/proc` is a few
//! small files, cheap enough to do once a second on a blocking thread.

use procfs::process::Process;
use procfs::{Current, CurrentSI};
use std::time::Instant;

/// Which process to sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessSelector {
    /// The process this code runs in (the generator).
    Myself,
    /// A process id.
    Pid(i32),
    /// Every process whose command name (`comm`, 15 characters at most) is
    /// this, summed (a server with worker processes).
    Name(String),
}

/// Counters of one selected process (or of all processes of one name).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessCounters {
    /// How many processes matched (0: gone, or never there).
    pub matched: usize,
    /// CPU time used, user plus system, seconds.
    pub cpu_seconds: f64,
    /// Resident memory, bytes.
    pub rss_bytes: u64,
    /// Threads.
    pub threads: u64,
    /// Open file descriptors (sockets included).
    pub open_files: u64,
}

/// One sample of the host and the selected processes.
#[derive(Debug, Clone)]
pub struct HostSample {
    /// Busy and total CPU time, all cores, seconds.
    pub cpu: CpuCounters,
    /// The same per core.
    pub cores: Vec<CpuCounters>,
    /// One-minute load average.
    pub load1: f64,
    /// Memory, bytes: total, available, swap total, swap free.
    pub memory: Memory,
    /// Whole disks (no partitions, loop or RAM devices), summed.
    pub disk: DiskCounters,
    /// Every network interface (loopback included: local load travels it), summed.
    pub net: NetCounters,
    /// TCP segments retransmitted since boot.
    pub tcp_retransmits: u64,
    /// The selected processes, in the order asked.
    pub processes: Vec<ProcessCounters>,
    /// When the sample was read.
    pub at: Instant,
}

/// CPU time in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuCounters {
    /// Time not idle and not waiting for I/O.
    pub busy: f64,
    /// All time (busy, idle, I/O wait).
    pub total: f64,
}

/// Memory figures, bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Memory {
    /// Physical memory.
    pub total: u64,
    /// What can be had without swapping (`MemAvailable`).
    pub available: u64,
    /// Swap space.
    pub swap_total: u64,
    /// Unused swap.
    pub swap_free: u64,
}

/// Disk counters since boot.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DiskCounters {
    /// Bytes read.
    pub read_bytes: u64,
    /// Bytes written.
    pub written_bytes: u64,
    /// Reads completed.
    pub reads: u64,
    /// Writes completed.
    pub writes: u64,
}

/// Network counters since boot.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NetCounters {
    /// Bytes received.
    pub recv_bytes: u64,
    /// Bytes sent.
    pub sent_bytes: u64,
    /// Packets received.
    pub recv_packets: u64,
    /// Packets sent.
    pub sent_packets: u64,
    /// Receive and send errors.
    pub errors: u64,
}

/// Why a host sample could not be taken.
#[derive(Debug, thiserror::Error)]
#[error("host monitor: {0}")]
pub struct HostError(#[from] procfs::ProcError);

/// Read one sample: the host, then each selected process.
pub fn sample(processes: &[ProcessSelector]) -> Result<HostSample, HostError> {
    let tps = procfs::ticks_per_second() as f64;
    let cpu_of = |t: &procfs::CpuTime| {
        let idle = t.idle + t.iowait.unwrap_or(0);
        let busy = t.user
            + t.nice
            + t.system
            + t.irq.unwrap_or(0)
            + t.softirq.unwrap_or(0)
            + t.steal.unwrap_or(0);
        CpuCounters {
            busy: busy as f64 / tps,
            total: (busy + idle) as f64 / tps,
        }
    };
    let stats = procfs::KernelStats::current()?;
    let meminfo = procfs::Meminfo::current()?;
    let memory = Memory {
        total: meminfo.mem_total,
        available: meminfo.mem_available.unwrap_or(meminfo.mem_free),
        swap_total: meminfo.swap_total,
        swap_free: meminfo.swap_free,
    };
    let mut disk = DiskCounters::default();
    for d in procfs::diskstats()? {
        let whole = std::path::Path::new("/sys/block").join(&d.name).exists();
        if !whole || d.name.starts_with("loop") || d.name.starts_with("ram") {
            continue;
        }
        disk.read_bytes += d.sectors_read * 512;
        disk.written_bytes += d.sectors_written * 512;
        disk.reads += d.reads;
        disk.writes += d.writes;
    }
    let mut net = NetCounters::default();
    for dev in procfs::net::dev_status()?.values() {
        net.recv_bytes += dev.recv_bytes;
        net.sent_bytes += dev.sent_bytes;
        net.recv_packets += dev.recv_packets;
        net.sent_packets += dev.sent_packets;
        net.errors += dev.recv_errs + dev.sent_errs;
    }
    let tcp_retransmits = procfs::net::snmp()?.tcp_retrans_segs;
    let processes = processes
        .iter()
        .map(|sel| process_counters(sel, tps))
        .collect();
    Ok(HostSample {
        cpu: cpu_of(&stats.total),
        cores: stats.cpu_time.iter().map(cpu_of).collect(),
        load1: procfs::LoadAverage::current()?.one as f64,
        memory,
        disk,
        net,
        tcp_retransmits,
        processes,
        at: Instant::now(),
    })
}

fn process_counters(sel: &ProcessSelector, tps: f64) -> ProcessCounters {
    let mut out = ProcessCounters::default();
    let mut add = |p: &Process| {
        // A process that ends between listing and reading is skipped.
        let Ok(stat) = p.stat() else { return };
        out.matched += 1;
        out.cpu_seconds += (stat.utime + stat.stime) as f64 / tps;
        out.rss_bytes += stat.rss * procfs::page_size();
        out.threads += stat.num_threads.max(0) as u64;
        out.open_files += p.fd_count().unwrap_or(0) as u64;
    };
    match sel {
        ProcessSelector::Myself => {
            if let Ok(p) = Process::myself() {
                add(&p);
            }
        }
        ProcessSelector::Pid(pid) => {
            if let Ok(p) = Process::new(*pid) {
                add(&p);
            }
        }
        ProcessSelector::Name(name) => {
            if let Ok(all) = procfs::process::all_processes() {
                for p in all.flatten() {
                    if p.stat().is_ok_and(|s| &s.comm == name) {
                        add(&p);
                    }
                }
            }
        }
    }
    out
}

/// What a host monitor records each interval.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum HostReading {
    /// Share of all CPU time that was busy, 0..=1.
    CpuBusy,
    /// Share of one core's time that was busy, 0..=1.
    CoreBusy(usize),
    /// One-minute load average.
    Load1,
    /// Memory in use (total minus available), bytes.
    MemoryUsedBytes,
    /// Memory available, bytes.
    MemoryAvailableBytes,
    /// Swap in use, bytes.
    SwapUsedBytes,
    /// Bytes read from disk per second.
    DiskReadBytesPerSecond,
    /// Bytes written to disk per second.
    DiskWriteBytesPerSecond,
    /// Disk reads and writes completed per second.
    DiskOpsPerSecond,
    /// Bytes received per second.
    NetRecvBytesPerSecond,
    /// Bytes sent per second.
    NetSentBytesPerSecond,
    /// Packets received and sent per second.
    NetPacketsPerSecond,
    /// Network errors per second.
    NetErrorsPerSecond,
    /// TCP segments retransmitted per second.
    TcpRetransmitsPerSecond,
    /// The i-th selected process: CPU used, in cores (1.0 = one core busy).
    ProcessCpuCores(usize),
    /// The i-th selected process: resident memory, bytes.
    ProcessRssBytes(usize),
    /// The i-th selected process: threads.
    ProcessThreads(usize),
    /// The i-th selected process: open files.
    ProcessOpenFiles(usize),
}

impl HostReading {
    /// The reading between two samples, or `None` when it cannot be computed
    /// (no time between them, a core or process that is not there).
    pub fn read(self, before: &HostSample, after: &HostSample) -> Option<f64> {
        let dt = after.at.checked_duration_since(before.at)?.as_secs_f64();
        let rate = |old: u64, new: u64| (dt > 0.0).then(|| new.saturating_sub(old) as f64 / dt);
        let busy = |a: CpuCounters, b: CpuCounters| {
            let total = b.total - a.total;
            (total > 0.0).then(|| ((b.busy - a.busy) / total).clamp(0.0, 1.0))
        };
        let proc_ = |i: usize| after.processes.get(i).filter(|p| p.matched > 0);
        match self {
            HostReading::CpuBusy => busy(before.cpu, after.cpu),
            HostReading::CoreBusy(i) => busy(*before.cores.get(i)?, *after.cores.get(i)?),
            HostReading::Load1 => Some(after.load1),
            HostReading::MemoryUsedBytes => {
                Some(after.memory.total.saturating_sub(after.memory.available) as f64)
            }
            HostReading::MemoryAvailableBytes => Some(after.memory.available as f64),
            HostReading::SwapUsedBytes => Some(
                after
                    .memory
                    .swap_total
                    .saturating_sub(after.memory.swap_free) as f64,
            ),
            HostReading::DiskReadBytesPerSecond => {
                rate(before.disk.read_bytes, after.disk.read_bytes)
            }
            HostReading::DiskWriteBytesPerSecond => {
                rate(before.disk.written_bytes, after.disk.written_bytes)
            }
            HostReading::DiskOpsPerSecond => rate(
                before.disk.reads + before.disk.writes,
                after.disk.reads + after.disk.writes,
            ),
            HostReading::NetRecvBytesPerSecond => rate(before.net.recv_bytes, after.net.recv_bytes),
            HostReading::NetSentBytesPerSecond => rate(before.net.sent_bytes, after.net.sent_bytes),
            HostReading::NetPacketsPerSecond => rate(
                before.net.recv_packets + before.net.sent_packets,
                after.net.recv_packets + after.net.sent_packets,
            ),
            HostReading::NetErrorsPerSecond => rate(before.net.errors, after.net.errors),
            HostReading::TcpRetransmitsPerSecond => {
                rate(before.tcp_retransmits, after.tcp_retransmits)
            }
            HostReading::ProcessCpuCores(i) => {
                let (a, b) = (before.processes.get(i)?, proc_(i)?);
                (dt > 0.0).then(|| (b.cpu_seconds - a.cpu_seconds).max(0.0) / dt)
            }
            HostReading::ProcessRssBytes(i) => Some(proc_(i)?.rss_bytes as f64),
            HostReading::ProcessThreads(i) => Some(proc_(i)?.threads as f64),
            HostReading::ProcessOpenFiles(i) => Some(proc_(i)?.open_files as f64),
        }
    }
}
