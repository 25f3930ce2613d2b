//! Two real Syncthing daemons on loopback, each with its own home, sharing
//! one folder: a "laptop" side and a "render node" side. No discovery, no
//! relays, no NAT/UPnP or STUN, no global announce, no usage or crash
//! reporting, no upgrades: they only ever talk to each other on 127.0.0.1.
//! The GUI/REST API listens on a free loopback port with an API key.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const FOLDER_ID: &str = "droprender";
const API_KEY: &str = "droprender-test-api-key";

/// One daemon. Killed (SIGTERM, then SIGKILL) when dropped.
pub struct Daemon {
    pub name: String,
    pub home: PathBuf,
    pub folder: PathBuf,
    pub id: String,
    pub port: u16,
    pub gui: u16,
    pub log: PathBuf,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn generate(bin: &Path, home: &Path) -> String {
    let out = Command::new(bin)
        .args(["generate", "--no-default-folder"])
        .arg(format!("--home={}", home.display()))
        .env("STNOUPGRADE", "1")
        .output()
        .expect("syncthing generate");
    assert!(
        out.status.success(),
        "syncthing generate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(bin)
        .args(["serve", "--device-id"])
        .arg(format!("--home={}", home.display()))
        .output()
        .expect("syncthing --device-id");
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(id.len() > 50, "a device id: {id:?}");
    id
}

/// The folder is shared with both devices; the watcher reacts within a
/// second, a full rescan runs every 2 s, and `maxConflicts` is explicitly
/// above 0: with 0, Syncthing 1.19 silently drops one side of a
/// simultaneous edit instead of keeping a sync-conflict copy.
fn config_xml(me: &Daemon, other: &Daemon, max_conflicts: u32) -> String {
    let dev = |d: &Daemon| {
        format!(
            r#"    <device id="{}" name="{}" compression="metadata" introducer="false">
        <address>tcp://127.0.0.1:{}</address>
        <autoAcceptFolders>false</autoAcceptFolders>
    </device>
"#,
            d.id, d.name, d.port
        )
    };
    format!(
        r#"<configuration version="36">
    <folder id="{FOLDER_ID}" label="{FOLDER_ID}" path="{path}" type="sendreceive" rescanIntervalS="2" fsWatcherEnabled="true" fsWatcherDelayS="1" ignorePerms="false" autoNormalize="true">
        <filesystemType>basic</filesystemType>
        <device id="{me_id}"></device>
        <device id="{other_id}"></device>
        <minDiskFree unit="%">0</minDiskFree>
        <maxConflicts>{max_conflicts}</maxConflicts>
        <markerName>.stfolder</markerName>
    </folder>
{dev_me}{dev_other}    <gui enabled="true" tls="false" debugging="false">
        <address>127.0.0.1:{gui}</address>
        <apikey>{API_KEY}</apikey>
    </gui>
    <options>
        <listenAddress>tcp://127.0.0.1:{port}</listenAddress>
        <globalAnnounceEnabled>false</globalAnnounceEnabled>
        <localAnnounceEnabled>false</localAnnounceEnabled>
        <relaysEnabled>false</relaysEnabled>
        <natEnabled>false</natEnabled>
        <urAccepted>-1</urAccepted>
        <urInitialDelayS>3600</urInitialDelayS>
        <startBrowser>false</startBrowser>
        <autoUpgradeIntervalH>0</autoUpgradeIntervalH>
        <crashReportingEnabled>false</crashReportingEnabled>
        <reconnectionIntervalS>1</reconnectionIntervalS>
        <minHomeDiskFree unit="%">0</minHomeDiskFree>
        <announceLANAddresses>false</announceLANAddresses>
        <setLowPriority>false</setLowPriority>
    </options>
</configuration>
"#,
        path = me.folder.display(),
        me_id = me.id,
        other_id = other.id,
        dev_me = dev(me),
        dev_other = dev(other),
        gui = me.gui,
        port = me.port,
    )
}

impl Daemon {
    fn new(bin: &Path, root: &Path, name: &str, folder: &Path) -> Daemon {
        let home = root.join(format!("syncthing-{name}"));
        std::fs::create_dir_all(&home).expect("home");
        std::fs::create_dir_all(folder).expect("folder");
        let id = generate(bin, &home);
        Daemon {
            name: name.to_string(),
            log: root.join(format!("syncthing-{name}.log")),
            home,
            folder: folder.to_path_buf(),
            id,
            port: free_port(),
            gui: free_port(),
            child: None,
        }
    }

    fn spawn(&mut self, bin: &Path) {
        let log = std::fs::File::create(&self.log).expect("log");
        let child = Command::new(bin)
            .args([
                "serve",
                "--no-browser",
                "--no-restart",
                "--no-default-folder",
            ])
            .arg(format!("--home={}", self.home.display()))
            .env("STNOUPGRADE", "1")
            .env("STNORESTART", "1")
            .env("STNODEFAULTFOLDER", "1")
            .env("HOME", &self.home)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn syncthing");
        self.child = Some(child);
    }

    /// GET on the REST API (HTTP/1.0: the body is never chunked).
    pub fn get(&self, path: &str) -> Option<serde_json::Value> {
        let mut s = TcpStream::connect(("127.0.0.1", self.gui)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\n\r\n"
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let (head, body) = out.split_once("\r\n\r\n")?;
        if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
            return None;
        }
        serde_json::from_str(body).ok()
    }

    pub fn connected_to(&self, other: &Daemon) -> bool {
        self.get("/rest/system/connections")
            .is_some_and(|v| v["connections"][&other.id]["connected"].as_bool() == Some(true))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(c.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A laptop daemon and a render-node daemon keeping two folders in sync.
pub struct Pair {
    pub laptop: Daemon,
    pub node: Daemon,
}

impl Pair {
    /// Configures and starts both; returns once they are connected.
    pub fn start(
        bin: &Path,
        root: &Path,
        laptop_folder: &Path,
        node_folder: &Path,
        max_conflicts: u32,
    ) -> Pair {
        let mut laptop = Daemon::new(bin, root, "laptop", laptop_folder);
        let mut node = Daemon::new(bin, root, "node", node_folder);
        std::fs::write(
            laptop.home.join("config.xml"),
            config_xml(&laptop, &node, max_conflicts),
        )
        .expect("config");
        std::fs::write(
            node.home.join("config.xml"),
            config_xml(&node, &laptop, max_conflicts),
        )
        .expect("config");
        laptop.spawn(bin);
        node.spawn(bin);
        let pair = Pair { laptop, node };
        let t = Instant::now();
        while !(pair.laptop.connected_to(&pair.node) && pair.node.connected_to(&pair.laptop)) {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "the Syncthing daemons did not connect\n--- laptop ---\n{}\n--- node ---\n{}",
                pair.laptop.log_text(),
                pair.node.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        pair
    }
}
