//! CPU time per thread group, from `/proc/self/task/*/stat`, and what the
//! machine's other processes and the hypervisor took meanwhile.

use std::collections::BTreeMap;
use std::time::Duration;

pub(crate) type Cpu = BTreeMap<&'static str, f64>;

fn thread_group(name: &str) -> &'static str {
    if name.starts_with("custos-server") {
        "server"
    } else if name.starts_with("sqlx-sqlite") {
        "sqlite"
    } else if name.starts_with("load-gen") {
        "load-gen"
    } else {
        "other"
    }
}

/// CPU seconds (user + system) spent so far by the live threads of each
/// group, and by other processes (`elsewhere`: such as a compiler running
/// beside the benchmark; with the children they have reaped).
pub(crate) fn cpu_by_group() -> Cpu {
    let mut cpu = Cpu::new();
    let own_pid = std::process::id().to_string();
    let mut elsewhere = 0.0;
    for process in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = process.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else { continue };
        if pid == own_pid {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(process.path().join("stat")) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        // After the name: state is field 3 of proc(5); utime, stime, cutime, cstime are 14 to 17.
        let ticks: f64 =
            stat[close + 1..].split_whitespace().skip(11).take(4).filter_map(|f| f.parse::<f64>().ok()).sum();
        elsewhere += ticks / 100.0;
    }
    cpu.insert("elsewhere", elsewhere);
    // Time the hypervisor gave the machine's vCPUs to others (`steal` of /proc/stat).
    if let Some(line) = std::fs::read_to_string("/proc/stat").ok().and_then(|s| s.lines().next().map(str::to_owned)) {
        let steal = line.split_whitespace().nth(8).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        cpu.insert("steal", steal / 100.0);
    }
    // Not CPU: the bytes this process wrote to storage, and handed to write calls.
    if let Ok(io) = std::fs::read_to_string("/proc/self/io") {
        for line in io.lines() {
            let field = |name: &str| line.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok());
            if let Some(bytes) = field("write_bytes:") {
                cpu.insert(DISK_BYTES, bytes);
            } else if let Some(bytes) = field("wchar:") {
                cpu.insert(WRITE_CALL_BYTES, bytes);
            }
        }
    }
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return cpu };
    let mut not_server = 0.0;
    for task in tasks.flatten() {
        let Some((name, seconds)) = cpu_of(&task.path().join("stat")) else { continue };
        let group = thread_group(&name);
        if group != "server" {
            not_server += seconds;
            *cpu.entry(group).or_default() += seconds;
        }
    }
    // The server's share is the process's total less the other groups: the
    // runtime's blocking threads (where the SQLite writer runs) come and go,
    // and an exited thread's time is only in the process's total.
    if let Some((_, total)) = cpu_of(std::path::Path::new("/proc/self/stat")) {
        cpu.insert("server", total - not_server);
    }
    cpu
}

/// The name and CPU seconds (user + system) of a `stat` file of proc(5).
fn cpu_of(stat: &std::path::Path) -> Option<(String, f64)> {
    let stat = std::fs::read_to_string(stat).ok()?;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After the name: state is field 3 of proc(5), utime 14 and stime 15.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // USER_HZ is 100 on every Linux configuration in use.
    Some((stat[open + 1..close].to_owned(), (ticks(11) + ticks(12)) / 100.0))
}

/// Entries of a [`Cpu`] that count bytes, not seconds.
pub(crate) const DISK_BYTES: &str = "disk bytes";
pub(crate) const WRITE_CALL_BYTES: &str = "write call bytes";

pub(crate) fn cpu_since(before: &Cpu) -> Cpu {
    let mut now = cpu_by_group();
    for (group, seconds) in now.iter_mut() {
        *seconds -= before.get(group).copied().unwrap_or(0.0);
    }
    now
}

/// CPU use over `elapsed`, in cores: this process's thread groups, and the rest of the machine.
pub(crate) fn cpu_line(cpu: &Cpu, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    let mine = |group: &&str| !["elsewhere", "steal", DISK_BYTES, WRITE_CALL_BYTES].contains(group);
    let own: Vec<String> = cpu
        .iter()
        .filter(|(group, _)| mine(group))
        .map(|(group, cpu)| format!("{group} {:.2}", cpu / seconds))
        .collect();
    let total: f64 = cpu.iter().filter(|(group, _)| mine(group)).map(|(_, cpu)| cpu).sum();
    let machine = |group| cpu.get(group).copied().unwrap_or(0.0) / seconds;
    format!(
        "    CPU in cores: {} (this process {:.2}; other processes {:.2}; stolen by the hypervisor {:.2})",
        own.join(", "),
        total / seconds,
        machine("elsewhere"),
        machine("steal")
    )
}
