//! status.json (for machines) and status.txt (for a phone screen).
//!
//! These are wire types: the node converts its own job records into them.
//! status.txt is rendered from the same [`StatusDoc`], so the two never disagree.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::states::{JobPhase, NodeState};

pub const FORMAT: u32 = 1;

/// Queued jobs listed in status files: enough for any screen, and it keeps
/// the file small (API mode re-uploads it whole on every change).
pub const QUEUE_SHOWN: usize = 50;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusDoc {
    pub format: u32,
    pub node: NodeInfo,
    /// Local wall time of this snapshot, `YYYY-MM-DD HH:MM:SS`.
    pub updated: String,
    pub state: NodeState,
    /// Why the node is waiting, or other news worth a line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The job rendering now; with several slots, the first of `running`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<JobInfo>,
    /// Every job rendering now (a node with several slots runs several).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub running: Vec<JobInfo>,
    /// The first [`QUEUE_SHOWN`] queued jobs, in the order they will start.
    #[serde(default)]
    pub queue: Vec<JobInfo>,
    /// How many jobs are queued in all (the list above is capped).
    #[serde(default)]
    pub queued: usize,
    #[serde(default)]
    pub recent: Vec<JobInfo>,
    /// With several nodes on one folder: one line per node (the default
    /// node's status.txt/json summarises them all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeLine>,
}

/// One node in a folder's summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeLine {
    pub name: String,
    pub state: NodeState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    pub queued: usize,
    pub updated: String,
}

impl NodeLine {
    pub fn of(doc: &StatusDoc) -> Self {
        NodeLine {
            name: doc.node.name.clone(),
            state: doc.state,
            job: doc.current.as_ref().map(|c| c.id),
            scene: doc.current.as_ref().map(|c| c.scene.clone()),
            percent: doc.current.as_ref().map(|c| c.percent),
            queued: doc.queued.max(doc.queue.len()),
            updated: doc.updated.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    pub host: String,
    pub os: String,
    pub cpus: u32,
    pub memory_mb: u64,
    pub version: String,
    #[serde(default)]
    pub renderers: Vec<RendererInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RendererInfo {
    pub name: String,
    pub program: String,
    pub found: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobInfo {
    pub id: u64,
    /// The canonical command line.
    pub line: String,
    pub scene: String,
    pub renderer: String,
    pub state: JobPhase,
    #[serde(default)]
    pub priority: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    pub frames_total: u64,
    pub frames_done: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_frame: Option<String>,
    /// 0–100.
    pub percent: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_frame_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dir: Option<String>,
    /// The slot it renders in, on a node with several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
    /// A rendering job's newest frames (the job's frames.csv has all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<FrameInfo>,
    /// Render times and peak memory over its frames so far (or in all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_stats: Option<FrameStats>,
}

/// One rendered frame.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<i64>,
    /// Local wall time it began, `YYYY-MM-DD HH:MM:SS`.
    pub started: String,
    pub render_s: f64,
    /// Peak memory of the renderer's process tree while it rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_mem_mb: Option<u64>,
}

/// Render times over a job's frames.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameStats {
    pub frames: u64,
    pub avg_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slowest_frame: Option<i64>,
    pub slowest_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_mem_mb: Option<u64>,
}

impl FrameStats {
    /// `slowest 12 (9s) · peak 1.2 GB`.
    pub fn slowest_text(&self) -> String {
        let mut t = match self.slowest_frame {
            Some(f) => format!("slowest {f} ({})", human_duration(self.slowest_s)),
            None => format!("slowest {}", human_duration(self.slowest_s)),
        };
        if let Some(m) = self.peak_mem_mb {
            t.push_str(&format!(" · peak {}", human_mb(m)));
        }
        t
    }
}

/// `512 MB`, `1.2 GB`.
pub fn human_mb(mb: u64) -> String {
    if mb >= 1024 {
        format!("{:.1} GB", mb as f64 / 1024.0)
    } else {
        format!("{mb} MB")
    }
}

/// `1h02m`, `4m12s`, `9s`.
pub fn human_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// A text bar for a phone: `[#######---------]  45%`.
pub fn percent_bar(percent: f64, width: usize) -> String {
    let p = percent.clamp(0.0, 100.0);
    let filled = ((p / 100.0) * width as f64).floor() as usize;
    format!(
        "[{}{}] {:>3.0}%",
        "#".repeat(filled),
        "-".repeat(width - filled),
        p.floor()
    )
}

/// One rendering job: what, how far, how fast.
fn now_section(o: &mut String, j: &JobInfo) {
    let slot = j
        .slot
        .as_ref()
        .map(|s| format!(" [slot {s}]"))
        .unwrap_or_default();
    let _ = writeln!(o, "NOW  job {} {}{slot}", j.id, j.scene);
    let _ = writeln!(o, "{}", percent_bar(j.percent, 20));
    let mut l = format!("frame {}", frames(j));
    if let Some(f) = &j.current_frame {
        let _ = write!(l, " (at {f})");
    }
    let _ = writeln!(o, "{l}");
    let mut t = Vec::new();
    if let Some(a) = j.avg_frame_s {
        t.push(format!("{}/frame", human_duration(a)));
    }
    if let Some(e) = j.elapsed_s {
        t.push(format!("elapsed {}", human_duration(e)));
    }
    if let Some(e) = j.eta_s {
        t.push(format!("ETA {}", human_duration(e)));
    }
    if !t.is_empty() {
        let _ = writeln!(o, "{}", t.join(" · "));
    }
    if let Some(s) = &j.frame_stats {
        let _ = writeln!(o, "{}", s.slowest_text());
    }
    if let Some(m) = &j.message {
        let _ = writeln!(o, "{m}");
    }
}

fn frames(j: &JobInfo) -> String {
    if j.frames_total > 0 {
        format!("{}/{}", j.frames_done, j.frames_total)
    } else {
        "-".into()
    }
}

impl StatusDoc {
    /// The phone dashboard. Lines stay under ~40 characters where the data allows.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        if !self.nodes.is_empty() {
            let _ = writeln!(o, "NODES ({})", self.nodes.len());
            for n in &self.nodes {
                let mut l = format!(" {} {}", n.name, n.state);
                if let (Some(j), Some(s)) = (n.job, &n.scene) {
                    let _ = write!(l, " job {j} {s}");
                }
                if let Some(p) = n.percent {
                    let _ = write!(l, " {p:.0}%");
                }
                if n.queued > 0 {
                    let _ = write!(l, " +{} queued", n.queued);
                }
                let _ = writeln!(o, "{l}");
            }
            o.push('\n');
        }
        let _ = writeln!(o, "droprender on {}", self.node.name);
        let _ = writeln!(o, "state: {}", self.state);
        if let Some(n) = &self.note {
            let _ = writeln!(o, "note: {n}");
        }
        o.push('\n');
        let running: Vec<&JobInfo> = if self.running.is_empty() {
            self.current.iter().collect()
        } else {
            self.running.iter().collect()
        };
        if running.is_empty() {
            let _ = writeln!(o, "NOW  nothing rendering");
        }
        for j in running {
            now_section(&mut o, j);
        }
        o.push('\n');
        let _ = writeln!(o, "QUEUE ({})", self.queued.max(self.queue.len()));
        for j in &self.queue {
            let mut l = format!(" {} {} {}", j.id, j.scene, j.state);
            if j.priority != 0 {
                let _ = write!(l, " prio {}", j.priority);
            }
            if let Some(a) = j.after {
                let _ = write!(l, " after {a}");
            }
            let _ = writeln!(o, "{l}");
            if let Some(m) = &j.message {
                let _ = writeln!(o, "   {m}");
            }
        }
        if self.queued > self.queue.len() {
            let _ = writeln!(o, " … and {} more", self.queued - self.queue.len());
        }
        o.push('\n');
        let _ = writeln!(o, "RECENT");
        for j in &self.recent {
            let mut l = format!(" {} {} {}", j.id, j.scene, j.state);
            if let Some(e) = j.elapsed_s {
                let _ = write!(l, " {}", human_duration(e));
            }
            let _ = write!(l, " {} fr", frames(j));
            let _ = writeln!(o, "{l}");
            if let Some(s) = &j.frame_stats {
                let _ = writeln!(
                    o,
                    "   avg {}/frame · {}",
                    human_duration(s.avg_s),
                    s.slowest_text()
                );
            }
            if let Some(m) = j.message.as_ref().filter(|_| j.state != JobPhase::Finished) {
                let _ = writeln!(o, "   {m}");
            }
        }
        o.push('\n');
        let n = &self.node;
        let _ = writeln!(
            o,
            "node {} · {} · {} CPUs · {} MB",
            n.host, n.os, n.cpus, n.memory_mb
        );
        for r in &n.renderers {
            let v = r
                .version
                .as_deref()
                .unwrap_or(if r.found { "found" } else { "not found" });
            // Which program: its last folders say which version it is.
            let short: Vec<&str> = r.program.rsplit(['/', '\\']).take(3).collect();
            let short: Vec<&str> = short.into_iter().rev().collect();
            if r.found && short.len() > 1 {
                let _ = writeln!(o, "{}: {v} (…/{})", r.name, short.join("/"));
            } else {
                let _ = writeln!(o, "{}: {v}", r.name);
            }
        }
        let _ = writeln!(o, "updated {}", self.updated);
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_and_durations() {
        assert_eq!(percent_bar(45.0, 10), "[####------]  45%");
        assert_eq!(percent_bar(100.0, 4), "[####] 100%");
        assert_eq!(human_duration(3725.0), "1h02m");
        assert_eq!(human_duration(252.0), "4m12s");
    }

    #[test]
    fn json_round_trip_and_text() {
        let doc = StatusDoc {
            format: FORMAT,
            state: NodeState::Rendering,
            current: Some(JobInfo {
                id: 3,
                scene: "shot01.mb".into(),
                frames_total: 10,
                frames_done: 4,
                percent: 40.0,
                ..Default::default()
            }),
            ..Default::default()
        };
        let json = serde_json::to_string(&doc).expect("json");
        let back: StatusDoc = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, doc);
        let txt = doc.to_text();
        assert!(txt.contains("job 3 shot01.mb"), "{txt}");
        assert!(txt.contains("frame 4/10"), "{txt}");
    }
}
