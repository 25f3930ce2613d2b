//! Slots: how many jobs a node runs at once, and which devices each may
//! use. A slot can own GPUs; a job may ask for `gpus=N` or `slot=NAME`.

use std::collections::BTreeSet;

/// One place a job can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub name: String,
    /// GPU device numbers the renderer in this slot sees (as 0.. in its
    /// `CUDA_VISIBLE_DEVICES` / `HIP_VISIBLE_DEVICES`).
    pub gpus: Vec<u32>,
    /// The device Blender's Cycles uses here (`CUDA`, `OPTIX`…); `None`: CPU.
    pub cycles_device: Option<String>,
}

impl Slot {
    /// `n` plain slots named 1..=n (no devices).
    pub fn plain(n: usize) -> Vec<Slot> {
        (1..=n.max(1))
            .map(|i| Slot {
                name: i.to_string(),
                gpus: Vec::new(),
                cycles_device: None,
            })
            .collect()
    }

    fn fits(&self, needs: &Needs<'_>) -> bool {
        needs
            .slot
            .is_none_or(|s| s.eq_ignore_ascii_case(&self.name))
            && self.gpus.len() >= needs.gpus as usize
    }

    /// `gpu0 [0]`, `2`.
    pub fn describe(&self) -> String {
        if self.gpus.is_empty() {
            self.name.clone()
        } else {
            let g: Vec<String> = self.gpus.iter().map(u32::to_string).collect();
            format!("{} [GPU {}]", self.name, g.join(","))
        }
    }
}

/// What a job asks of a slot.
#[derive(Debug, Clone, Copy, Default)]
pub struct Needs<'a> {
    pub gpus: u32,
    pub slot: Option<&'a str>,
}

/// Whether this node can ever run a job with these needs; the rejection a
/// user reads says what the node has.
pub fn check(slots: &[Slot], needs: &Needs<'_>) -> Result<(), String> {
    if slots.iter().any(|s| s.fits(needs)) {
        return Ok(());
    }
    let have: Vec<String> = slots.iter().map(Slot::describe).collect();
    Err(match needs.slot {
        Some(name) if !slots.iter().any(|s| s.name.eq_ignore_ascii_case(name)) => {
            format!(
                "slot={name}: this node has no such slot (slots: {})",
                have.join(", ")
            )
        }
        _ => format!(
            "gpus={}: no slot of this node has that many GPUs (slots: {})",
            needs.gpus,
            have.join(", ")
        ),
    })
}

/// A free slot for a job, if one fits: the named one; for `gpus=N` the
/// free slot with the fewest GPUs that has N; for a job that needs no GPU,
/// a slot without GPUs first (GPUs stay free for jobs that need them).
pub fn pick<'a>(slots: &'a [Slot], busy: &BTreeSet<String>, needs: &Needs<'_>) -> Option<&'a Slot> {
    slots
        .iter()
        .filter(|s| !busy.contains(&s.name) && s.fits(needs))
        .min_by_key(|s| s.gpus.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(name: &str, g: &[u32]) -> Slot {
        Slot {
            name: name.into(),
            gpus: g.to_vec(),
            cycles_device: None,
        }
    }

    #[test]
    fn picking_and_checking() {
        let slots = vec![gpu("cpu", &[]), gpu("g0", &[0]), gpu("g12", &[1, 2])];
        let none = BTreeSet::new();
        let pick_name =
            |busy: &BTreeSet<String>, n: Needs<'_>| pick(&slots, busy, &n).map(|s| s.name.clone());
        assert_eq!(pick_name(&none, Needs::default()).as_deref(), Some("cpu"));
        assert_eq!(
            pick_name(
                &none,
                Needs {
                    gpus: 1,
                    slot: None
                }
            )
            .as_deref(),
            Some("g0")
        );
        assert_eq!(
            pick_name(
                &none,
                Needs {
                    gpus: 2,
                    slot: None
                }
            )
            .as_deref(),
            Some("g12")
        );
        let busy: BTreeSet<String> = ["g0".to_string()].into();
        assert_eq!(
            pick_name(
                &busy,
                Needs {
                    gpus: 1,
                    slot: None
                }
            )
            .as_deref(),
            Some("g12")
        );
        assert_eq!(
            pick_name(
                &busy,
                Needs {
                    gpus: 0,
                    slot: Some("G0")
                }
            ),
            None
        );
        assert!(
            check(
                &slots,
                &Needs {
                    gpus: 3,
                    slot: None
                }
            )
            .is_err_and(|e| e.contains("g12 [GPU 1,2]"))
        );
        assert!(
            check(
                &slots,
                &Needs {
                    gpus: 0,
                    slot: Some("x")
                }
            )
            .is_err_and(|e| e.contains("no such slot"))
        );
        assert!(
            check(
                &slots,
                &Needs {
                    gpus: 2,
                    slot: Some("g0")
                }
            )
            .is_err()
        );
        assert_eq!(
            Slot::plain(2)
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            ["1", "2"]
        );
    }
}
