//! `render-sim`: a stand-in for Maya `Render`, `3dsmaxcmd`, `husk`, Cinema 4D
//! `Commandline`, `kick` and `vray`, chosen by the name it is run as (a copy
//! or symlink named `husk` behaves as husk; `render-sim` itself is Maya).

fn main() {
    let mut args = std::env::args_os();
    let argv0 = args
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let args = args.collect();
    // A name the simulator does not know (a renamed copy) stays Maya `Render`,
    // as `render-sim` always was.
    let code = match render_sim::Program::from_argv0(&argv0) {
        Some(_) => render_sim::run_as(&argv0, args),
        None => render_sim::run(args),
    };
    std::process::exit(code);
}
