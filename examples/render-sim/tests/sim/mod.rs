//! The rig the program tests share: `render-sim` linked under a program's
//! name in a temp dir with one scene file per program and an `out/` folder.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use regex::Regex;
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_render-sim");

/// A temp dir with the program linked under `name`, scene files and `out/`.
pub struct Sim {
    _dir: TempDir,
    pub root: PathBuf,
    pub exe: PathBuf,
}

impl Sim {
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().canonicalize().expect("canonical");
        let exe = root.join(name);
        std::os::unix::fs::symlink(BIN, &exe).expect("symlink");
        for scene in [
            "s.max",
            "s.usda",
            "s.c4d",
            "s.0007.ass",
            "s.vrscene",
            "s.hip",
        ] {
            fs::write(root.join(scene), "scene\n").expect("scene");
        }
        fs::create_dir(root.join("out")).expect("out");
        Sim {
            _dir: dir,
            root,
            exe,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(&self.exe);
        c.args(args).current_dir(&self.root);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("RENDER_SIM_") {
                c.env_remove(k);
            }
        }
        c.env("RENDER_SIM_STEP_MS", "0");
        c.envs(env.iter().copied());
        c.output().expect("run")
    }

    pub fn out_files(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.path("out"))
            .expect("out")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    pub fn hook_log(&self) -> String {
        fs::read_to_string(self.path("hooks.log")).unwrap_or_default()
    }

    pub fn hook_env(&self) -> String {
        self.path("hooks.log").to_string_lossy().into_owned()
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn count(text: &str, re: &str) -> usize {
    let re = Regex::new(re).expect("regex");
    text.split(['\n', '\r']).filter(|l| re.is_match(l)).count()
}

pub fn decodes(path: &Path) -> (u32, u32) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (img.width(), img.height())
}
