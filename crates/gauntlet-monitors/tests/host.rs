//! The host monitor against truths it does not read itself: what a child
//! process reports of its own CPU time, memory, threads and files, and the
//! bytes this test pushes through loopback and onto the disk.
#![cfg(target_os = "linux")]

use gauntlet_monitors::host::{HostReading, ProcessSelector, sample};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

const CHILD: &str = r#"
import os, sys, threading, time
blob = b"x" * (96 << 20)                      # written, so resident
files = [open(os.devnull) for _ in range(10)]
stop = threading.Event()
for _ in range(3):
    threading.Thread(target=stop.wait, daemon=True).start()
t0 = time.process_time()
while time.process_time() - t0 < 0.3:
    pass
print(time.process_time(), flush=True)
sys.stdin.read()                              # hold still until told
"#;

#[test]
fn a_process_reads_the_cpu_memory_threads_and_files_it_reports_of_itself() {
    let mut child = Command::new("python3")
        .args(["-c", CHILD])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let sel = [
        ProcessSelector::Pid(pid),
        ProcessSelector::Name("python3".into()),
        ProcessSelector::Myself,
    ];
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let own_cpu: f64 = line.trim().parse().unwrap();
    let s = sample(&sel).unwrap();
    let p = &s.processes[0];
    assert_eq!(p.matched, 1);
    // /proc counts in clock ticks (10 ms): the same time, truncated.
    assert!(
        (p.cpu_seconds - own_cpu).abs() <= 0.03,
        "/proc {} vs the child's own {own_cpu}",
        p.cpu_seconds
    );
    assert!(
        p.rss_bytes >= 96 << 20 && p.rss_bytes < 200 << 20,
        "{}",
        p.rss_bytes
    );
    assert_eq!(p.threads, 4);
    assert!(p.open_files >= 13, "{}", p.open_files);
    assert!(s.processes[1].matched >= 1, "by name");
    assert!(
        s.processes[2].matched == 1 && s.processes[2].threads >= 1,
        "myself"
    );

    let later = sample(&sel).unwrap();
    assert_eq!(HostReading::ProcessThreads(0).read(&s, &later), Some(4.0));
    let cores = HostReading::ProcessCpuCores(0).read(&s, &later).unwrap();
    assert!(
        (0.0..=0.5).contains(&cores),
        "a child holding still uses {cores} cores"
    );
    drop(child.stdin.take()); // end of input: the child exits
    child.wait().unwrap();
    let gone = sample(&sel).unwrap();
    assert_eq!(gone.processes[0].matched, 0);
    assert_eq!(
        HostReading::ProcessRssBytes(0).read(&later, &gone),
        None,
        "a process that is gone reads nothing"
    );
}

#[test]
fn loopback_and_disk_bytes_include_what_the_test_moved() {
    let before = sample(&[]).unwrap();
    // 8 MiB through loopback TCP.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut sink = Vec::new();
        s.read_to_end(&mut sink).unwrap();
        sink.len()
    });
    let mut out = std::net::TcpStream::connect(addr).unwrap();
    out.write_all(&vec![7u8; 8 << 20]).unwrap();
    drop(out);
    assert_eq!(reader.join().unwrap(), 8 << 20);
    // 16 MiB to disk, synced.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut f = std::fs::File::create(dir.path().join("blob")).unwrap();
    f.write_all(&vec![1u8; 16 << 20]).unwrap();
    f.sync_all().unwrap();
    let after = sample(&[]).unwrap();
    let dt = (after.at - before.at).as_secs_f64();
    let sent = HostReading::NetSentBytesPerSecond
        .read(&before, &after)
        .unwrap()
        * dt;
    let written = HostReading::DiskWriteBytesPerSecond
        .read(&before, &after)
        .unwrap()
        * dt;
    assert!(sent >= (8 << 20) as f64, "{sent} bytes sent");
    assert!(written >= (16 << 20) as f64, "{written} bytes written");
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    assert_eq!(after.cores.len(), cpus);
    let busy = HostReading::CpuBusy.read(&before, &after).unwrap();
    assert!((0.0..=1.0).contains(&busy));
    assert!(HostReading::MemoryUsedBytes.read(&before, &after).unwrap() > 0.0);
}
