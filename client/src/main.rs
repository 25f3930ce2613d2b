//! droprender: send render commands and read status through a synced folder.

fn main() -> std::process::ExitCode {
    droprender_client::main()
}
