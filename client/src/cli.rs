//! Argument parsing for `droprender`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "droprender",
    version,
    about = "Send renders to a droprender node and watch them, through a synced folder"
)]
pub struct Cli {
    /// The synced folder the node watches (or set DROPRENDER_FOLDER).
    #[arg(long, env = "DROPRENDER_FOLDER", global = true)]
    pub folder: Option<PathBuf>,
    /// Talk to the Dropbox HTTP API instead of a local folder: a path in the
    /// app folder, e.g. /Maya (log in first with `droprender login`).
    #[arg(long, value_name = "PATH", global = true)]
    pub dropbox: Option<String>,
    /// Address one node when several share the folder (`rend@NODE:`).
    #[arg(long, value_name = "NAME", global = true)]
    pub node: Option<String>,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Queue a render: `droprender rend -r sw -s 1 -e 10 shot01.mb` (or `rend blender -s 1 -e 3 a.blend`, `rend husk -f 1 -n 10 shot.usd`…).
    Rend {
        /// Render flags, then the scene (relative to the node's projects root).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, num_args = 1..)]
        args: Vec<String>,
    },
    /// Append one raw command line, e.g. `droprender send "progress:"`.
    Send { line: String },
    /// Ask for the newest frame (preview.jpg) and wait for it.
    Progress {
        /// Do not wait for the node's answer.
        #[arg(long)]
        no_wait: bool,
        /// Seconds to wait for the node's answer.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Show status.txt (or status.json with --json).
    Status {
        #[arg(long)]
        json: bool,
    },
    /// List the scenes the node can render.
    Projects {
        #[arg(long)]
        json: bool,
    },
    /// Log in to Dropbox for --dropbox (OAuth in the browser; the refresh token is kept in your config dir).
    Login {
        /// The Dropbox app's key (default: DROPRENDER_DROPBOX_APP_KEY).
        #[arg(long, env = "DROPRENDER_DROPBOX_APP_KEY")]
        app_key: Option<String>,
    },
    /// Revoke the Dropbox login and delete the stored token.
    Logout,
    /// Show the last lines of LOG.txt (of every node when several share the folder).
    Log {
        #[arg(short = 'n', default_value_t = 20)]
        n: usize,
        #[arg(long)]
        json: bool,
    },
    /// Live progress bars for the current job and the queue, until Ctrl-C.
    Watch {
        /// Print each new status.json as one JSON line instead of bars.
        #[arg(long)]
        json: bool,
    },
    /// Stop a running render or drop a queued one: `cancel 12` or `cancel all`.
    Cancel { job: String },
    /// Hold the queue after the current job.
    Pause,
    /// Release the queue, or continue a suspended render: `resume` / `resume 12`.
    Resume { job: Option<u64> },
    /// Freeze a running render (SIGSTOP); `resume N` continues it.
    Suspend { job: u64 },
    /// Reorder a queued job: `priority 12 high` (high, normal, low or -100..100).
    Priority {
        job: u64,
        #[arg(allow_hyphen_values = true)]
        priority: String,
    },
    /// Requeue a failed or cancelled job; only its missing frames render.
    Retry { job: u64 },
    /// Print shell completions: `droprender completions bash > /etc/bash_completion.d/droprender`.
    Completions { shell: clap_complete::Shell },
}
