//! help.txt: the grammar, short enough for a phone. The renderer part
//! comes from the profiles the node runs with, config profiles included.

use crate::profile::{Profiles, Syntax, kinds};

const HEAD: &str = "\
droprender commands: one per line in commands.txt

RENDER
";

const TAIL: &str = "  job options, anywhere in the line:
   after=12      start when job 12 has finished
   priority=high high|normal|low|-100..100
   timeout=2h    stop a render that runs longer
   retries=2     retry after a failure or stall

QUEUE
progress:          newest frame -> preview.jpg
cancel: 12         stop or drop job 12
cancel: all        everything
pause:             finish the current job, then hold
resume:            release the queue
suspend: 12        freeze a running render
resume: 12         continue it
priority: 12 high  reorder queued jobs
retry: 12          requeue; only missing frames render
status:            rewrite status.txt now
help:              write this file

rend@box2:...      send a line to the node box2

Job numbers are the ones in status.txt.
Lines starting with # are comments.
To run a command again, add it again.
";

/// Lines of at most this many characters (a phone held upright).
const WIDTH: usize = 48;

/// help.txt for a node running `profiles`.
pub fn text(profiles: &Profiles) -> String {
    format!("{HEAD}{}{TAIL}", renderers(profiles))
}

/// Each renderer's example line and the flags it takes, wrapped for a phone.
pub fn renderers(profiles: &Profiles) -> String {
    let mut out = String::new();
    for p in profiles.iter() {
        out.push_str(&p.example);
        out.push('\n');
        let mut words: Vec<String> = vec![format!(
            "{} {}{}:",
            p.title,
            p.scene_extensions.join(" "),
            match p.syntax {
                Syntax::Space => "",
                Syntax::Colon => " (-flag:value)",
                Syntax::Equals => " (-flag=value)",
            }
        )];
        for spec in &p.allow {
            match kinds::hint(&spec.kind) {
                Some(h) => words.push(format!("{} {h}", spec.name)),
                None => words.push(spec.name.clone()),
            }
        }
        let mut line = String::from(" ");
        for w in words {
            if line.len() + 1 + w.len() > WIDTH && !line.trim().is_empty() {
                out.push_str(&line);
                out.push('\n');
                line = String::from("  ");
            }
            line.push(' ');
            line.push_str(&w);
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_renderer_shows_its_example_within_the_width() {
        let t = text(crate::profile::builtin());
        for p in crate::profile::builtin().iter() {
            assert!(t.contains(&p.example), "{}", p.name);
        }
        assert!(t.contains("cancel: 12"));
        if std::env::var_os("SHOW_HELP").is_some() {
            println!("{t}");
        }
        for l in t.lines().filter(|l| l.starts_with(' ')) {
            assert!(l.len() <= WIDTH + 20, "{l}");
        }
    }
}
