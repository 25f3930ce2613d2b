//! Several named nodes on one folder: addressed lines run on their node,
//! unaddressed ones on the folder's default node, and no line runs twice.

mod common;

use common::Rig;

fn calls(path: &std::path::Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("argv json"))
        .collect()
}

fn frame_of(call: &[String]) -> String {
    let i = call.iter().position(|a| a == "-s").expect("-s");
    call[i + 1].clone()
}

#[test]
fn addressed_and_unaddressed_lines_each_run_on_exactly_one_node() {
    let mut rig = Rig::new();
    rig.configure("default_node = \"boxA\"\n");
    rig.extra_args = vec!["--name".into(), "boxA".into()];
    rig.start();
    let (b, argv_b) = rig.spawn_other("boxB");
    // Killed even when an assertion fails, so no node outlives the test.
    let mut b = KillOnDrop(b);
    rig.wait_until("boxB's status file", || {
        rig.folder.join("status-boxB.json").exists()
    });
    rig.append(
        b"rend:-s 1 -e 1 scenes/shot01.ma\nrend@boxB:-s 2 -e 2 scenes/shot01.ma\nrend@boxA:-s 3 -e 3 scenes/shot01.ma\nRend@boxb:-s 4 -e 4 scenes/shot01.ma\nrend@boxC:-s 5 -e 5 scenes/shot01.ma\nprogress@boxB:\n",
    );
    rig.wait_events("finished", 2);
    let finished_b = |rig: &Rig| {
        rig.read("LOG-boxB.txt")
            .lines()
            .filter(|l| l.split(' ').nth(2) == Some("finished"))
            .count()
    };
    rig.wait_until("boxB to finish two jobs", || finished_b(&rig) == 2);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let a: Vec<String> = rig.render_calls().iter().map(|c| frame_of(c)).collect();
    let bb: Vec<String> = calls(&argv_b).iter().map(|c| frame_of(c)).collect();
    assert_eq!(a, ["1", "3"], "boxA ran the unaddressed line and its own");
    assert_eq!(bb, ["2", "4"], "boxB ran only lines addressed to it");
    assert!(
        rig.read("LOG-boxB.txt").contains("progress"),
        "{}",
        rig.read("LOG-boxB.txt")
    );
    // Each node has its own status; the default node's status.txt summarises both.
    rig.wait_until("the summary to list both nodes", || {
        let t = rig.read("status.txt");
        t.contains("NODES (2)") && t.contains(" boxA ") && t.contains(" boxB ")
    });
    assert!(rig.folder.join("status-boxA.json").exists());
    let out = rig.client(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("boxA") && text.contains("boxB"), "{text}");
    let _ = b.0.kill();
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
