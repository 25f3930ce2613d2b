//! The node's own checks of a render request, beyond the grammar: enabled
//! renderers, threads, and paths inside their roots. Used when a line is
//! accepted and again when its job starts (the disk may have changed).

use std::path::Path;

use droprender_shared::command::RenderRequest;
use droprender_shared::profile::RendererKind;

use super::facts::{Facts, PathError};
use super::policy::Policy;
use crate::renderer::Resolved;

/// Resolves `req` for job `id`; `known_out` is the output folder chosen
/// when the job was accepted (it never moves after that).
pub fn resolve(
    policy: &Policy,
    facts: &dyn Facts,
    req: &RenderRequest,
    id: u64,
    known_out: Option<&Path>,
) -> Result<Resolved, String> {
    if req.renderer == RendererKind::Maya
        && let Some(r) = req.flag("-r")
        && !policy.maya_renderers.iter().any(|a| a == r)
    {
        return Err(format!(
            "-r {r} is not enabled on this node (enabled: {})",
            policy.maya_renderers.join(", ")
        ));
    }
    let cores = i64::from(policy.cpus);
    for t in ["-n", "-ai:threads", "-threads", "-t"] {
        if let Some(n) = req.flag(t).and_then(|v| v.parse::<i64>().ok())
            && n > cores
        {
            return Err(format!(
                "{t} {n} asks for more threads than this node's {cores} CPUs"
            ));
        }
    }
    // A scene still arriving through a sync engine may not exist yet:
    // accept it when its sync temp file is there, and wait for it. The
    // temp file is looked for first: the engine's rename makes the scene
    // appear as the temp file goes, so one of the two checks sees it.
    let arriving = facts.arriving(&req.scene);
    let scene = match (facts.in_projects(&req.scene), arriving) {
        (Ok(s), _) => s,
        (Err(PathError::Missing(..)), Some(future)) => future,
        (Err(e), _) => return Err(format!("scene: {e}")),
    };
    let project = match req.flag("-proj") {
        Some(p) => Some(facts.in_projects(p).map_err(|e| format!("-proj: {e}"))?),
        None => None,
    };
    let output_dir = match (known_out, req.flag("-rd")) {
        (Some(o), _) => o.to_path_buf(),
        (None, Some(rd)) => facts.in_output(rd).map_err(|e| format!("-rd: {e}"))?,
        (None, None) => {
            let stem = scene
                .file_stem()
                .map(|s| {
                    s.to_string_lossy().replace(
                        |c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-',
                        "_",
                    )
                })
                .unwrap_or_default();
            if policy.multi {
                policy
                    .output
                    .join(format!("job-{}-{id:04}-{stem}", policy.name))
            } else {
                policy.output.join(format!("job-{id:04}-{stem}"))
            }
        }
    };
    Ok(Resolved {
        request: req.clone(),
        scene,
        output_dir,
        project,
    })
}
