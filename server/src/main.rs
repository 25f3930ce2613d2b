//! droprender-node: the render-node daemon. All logic lives in the library.

fn main() -> std::process::ExitCode {
    droprender_node::cli::main()
}
