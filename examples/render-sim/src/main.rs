//! `render-sim`: a stand-in for Autodesk Maya's `Render` command line.

fn main() {
    std::process::exit(render_sim::run(std::env::args_os().skip(1).collect()));
}
