//! `dropbox-emulator`: run the emulator as a standalone server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use dropbox_emulator::faults::parse_kinds;
use dropbox_emulator::{Config, Emulator, FaultConfig, FaultKind, Urls};

/// A stateful emulator of the Dropbox HTTP API v2 subset droprender uses,
/// with fault injection.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8765")]
    addr: SocketAddr,
    /// App key (OAuth client_id).
    #[arg(long, default_value = "emulator-app-key")]
    app_key: String,
    /// Access token valid from the start (repeatable). If none is given, one
    /// is minted and printed.
    #[arg(long = "token", value_name = "TOKEN")]
    tokens: Vec<String>,
    /// Lifetime of access tokens, in seconds.
    #[arg(long, default_value_t = 14_400, value_name = "SECS")]
    token_lifetime: u64,
    /// Probability in [0, 1] that a request gets a random fault.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    fault_rate: f64,
    /// Fault kinds to pick from: 429, 500, 503, drop, slow, expire,
    /// drop-after-commit.
    #[arg(long, default_value = "429,500", value_parser = parse_kind_list)]
    fault_kinds: FaultKinds,
    /// Retry-After seconds for 429/503 faults.
    #[arg(long, default_value_t = 1, value_name = "SECS")]
    retry_after: u64,
    /// Delay of `slow` faults, in milliseconds.
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    slow_ms: u64,
    /// Also inject faults into /oauth2/* routes.
    #[arg(long)]
    fault_oauth: bool,
    /// Seed for all random choices (reproducible runs).
    #[arg(long)]
    seed: Option<u64>,
    /// Maximum random extra seconds added to longpoll timeouts (Dropbox: up to 90).
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    longpoll_jitter: u64,
    /// Include `"backoff": N` in longpoll answers.
    #[arg(long, value_name = "SECS")]
    longpoll_backoff: Option<u64>,
    /// Directory to seed files from and mirror every change to.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

#[derive(Clone, Debug)]
struct FaultKinds(Vec<FaultKind>);

fn parse_kind_list(s: &str) -> Result<FaultKinds, String> {
    parse_kinds(s).map(FaultKinds)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&r) {
        Ok(r)
    } else {
        Err("must be within [0, 1]".into())
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    if let Some(dir) = &cli.data {
        std::fs::create_dir_all(dir)?;
    }
    let config = Config {
        app_key: cli.app_key.clone(),
        access_tokens: cli.tokens.clone(),
        token_lifetime: Duration::from_secs(cli.token_lifetime),
        longpoll_jitter: Duration::from_secs(cli.longpoll_jitter),
        longpoll_backoff: cli.longpoll_backoff,
        faults: FaultConfig {
            rate: cli.fault_rate,
            kinds: cli.fault_kinds.0.clone(),
            retry_after_secs: cli.retry_after,
            slow_ms: cli.slow_ms,
            include_oauth: cli.fault_oauth,
            ..FaultConfig::default()
        },
        seed: cli.seed,
        data_dir: cli.data.clone(),
        ..Config::default()
    };
    let emu = Emulator::new(config);
    let token = match cli.tokens.first() {
        Some(t) => t.clone(),
        None => emu.mint_token(),
    };
    let listener = tokio::net::TcpListener::bind(cli.addr).await?;
    let urls = Urls::new(listener.local_addr()?);
    println!("dropbox-emulator listening on {}", urls.base);
    println!("control surface: {}/__emulator/", urls.base);
    println!();
    print!("{}", urls.env_exports(Some(&token)));
    emu.serve(listener, async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("ctrl-c: shutting down");
    })
    .await
}
