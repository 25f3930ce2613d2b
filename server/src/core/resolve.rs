//! The node's own checks of a render request, beyond the grammar: enabled
//! renderers, threads, and paths inside their roots, each found by its
//! value kind in the request's profile. Used when a line is accepted and
//! again when its job starts (the disk may have changed).

use std::path::Path;

use droprender_shared::command::RenderRequest;
use droprender_shared::profile::{Kind, RendererKind};

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
    let profile = &req.profile;
    if req.renderer == RendererKind::Maya
        && let Some(sel) = profile.select.as_deref()
        && let Some(r) = req.flag(sel)
        && !policy.maya_renderers.iter().any(|a| a == r)
    {
        return Err(format!(
            "{sel} {r} is not enabled on this node (enabled: {})",
            policy.maya_renderers.join(", ")
        ));
    }
    let cores = i64::from(policy.cpus);
    for f in &req.flags {
        if profile.kind_of(&f.name) == Some(&Kind::Threads)
            && let Some(n) = f.value.as_deref().and_then(|v| v.parse::<i64>().ok())
            && n > cores
        {
            return Err(format!(
                "{} {n} asks for more threads than this node's {cores} CPUs",
                f.name
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
    let mut project = None;
    let mut named_out = None;
    for f in &req.flags {
        let (Some(kind), Some(v)) = (profile.kind_of(&f.name), f.value.as_deref()) else {
            continue;
        };
        match kind {
            Kind::ProjectDir => {
                project = Some(
                    facts
                        .in_projects(v)
                        .map_err(|e| format!("{}: {e}", f.name))?,
                );
            }
            Kind::OutputDir => {
                named_out = Some(facts.in_output(v).map_err(|e| format!("{}: {e}", f.name))?);
            }
            // Frames land beside the file the line names.
            Kind::OutputFile(_) | Kind::OutputPrefix => {
                let file = facts.in_output(v).map_err(|e| format!("{}: {e}", f.name))?;
                named_out = Some(file.parent().map_or(file.clone(), Path::to_path_buf));
            }
            _ => {}
        }
    }
    let output_dir = match (known_out, named_out) {
        (Some(o), _) => o.to_path_buf(),
        (None, Some(dir)) => dir,
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
