//! The output row: a chatty renderer (Arnold's `NN% done`, printed as fast
//! as it can) must not make the node the bottleneck. Measured as the issue
//! measured it: the renderer alone, then through the node — the node's CPU
//! time per line, and append → job ended beside the renderer's own time.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use droprender_testkit::log::LogCount;

use super::rig::{self, renderer_env};
use super::sys::{human_ns, now_ns};
use super::{Row, Verdict};

/// The render every run makes: one frame, `lines` progress lines.
fn argv(l: &droprender_testkit::layout::Layout) -> Vec<String> {
    let scene = l.projects.join("scenes/shot01.ma");
    let out = l.output.join("alone");
    [
        "-r",
        "arnold",
        "-rd",
        &out.display().to_string(),
        "-s",
        "1",
        "-e",
        "1",
        &scene.display().to_string(),
    ]
    .map(str::to_string)
    .to_vec()
}

/// CPU time (user + system) of a process so far, ns: /proc/PID/stat keeps
/// the threads that already exited too.
fn cpu_ns(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rfind(')').map_or("", |i| &stat[i + 2..]);
    let f: Vec<u64> = after
        .split(' ')
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    let hz = 100; // USER_HZ on Linux
    f.iter().sum::<u64>() * (1_000_000_000 / hz)
}

pub fn rows(quick: bool) -> Vec<Row> {
    let lines: u64 = if quick { 200_000 } else { 1_000_000 };
    let chatty = ("RENDER_SIM_LINES_PER_FRAME".to_string(), lines.to_string());
    let l = rig::layout();
    // The renderer alone, its output read as fast as a pipe goes.
    let mut alone = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let mut child = Command::new(&l.render)
            .args(argv(&l))
            .envs(renderer_env(&l))
            .env(&chatty.0, &chatty.1)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run the simulator");
        let mut sink = Vec::new();
        let _ = child.stdout.take().map(|mut o| o.read_to_end(&mut sink));
        assert!(
            child.wait().is_ok_and(|s| s.success()),
            "the simulator failed"
        );
        alone.push(t.elapsed().as_nanos() as u64);
    }
    alone.sort_unstable();
    let alone = alone[1];
    // Through the node.
    let (mut node, _) = rig::start_node(&l, std::slice::from_ref(&chatty), None);
    std::thread::sleep(Duration::from_millis(500));
    let mut finished = LogCount::new(&l, "finished");
    let cpu0 = cpu_ns(node.pid);
    let t0 = l.append(b"rend:-r arnold -s 1 -e 1 scenes/shot01.ma\n");
    node.wait_for(
        "the chatty job to finish",
        Duration::from_secs(600),
        Duration::from_millis(5),
        || finished.poll() >= 1,
    );
    let ended = now_ns() - t0;
    let cpu = cpu_ns(node.pid) - cpu0;
    node.stop();
    let per_line = cpu as f64 / lines as f64;
    let behind = ended.saturating_sub(alone);
    eprintln!(
        "output: {lines} lines; renderer alone {}; through the node: append → ended {}, node CPU {} ({per_line:.0} ns/line)",
        human_ns(alone),
        human_ns(ended),
        human_ns(cpu)
    );
    let k = lines / 1000;
    vec![
        Row {
            group: "output",
            measure: format!("{k}k progress lines: node CPU per line"),
            goal: "≤ 1 µs".into(),
            ours: format!("{per_line:.0} ns ({} in all)", human_ns(cpu)),
            paper: "n/a (blocks on a full pipe)".into(),
            ratio: String::new(),
            met: Verdict::from(per_line <= 1000.0),
        },
        Row {
            group: "output",
            measure: format!(
                "{k}k progress lines: append → job ended, beyond the renderer alone ({})",
                human_ns(alone)
            ),
            goal: "≤ 1 s".into(),
            ours: format!("{} (ended {})", human_ns(behind), human_ns(ended)),
            paper: String::new(),
            ratio: String::new(),
            met: Verdict::from(behind <= 1_000_000_000),
        },
    ]
}
