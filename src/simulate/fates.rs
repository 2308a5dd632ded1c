//! What happens to each unit of a simulated batch, drawn once from the seed.
//!
//! Most units are good and end up packed. A share (`reject_rate`) are rejects: about seven in
//! ten are thrown out by the in-line camera or checkweigher before the case packer (destroyed,
//! never packed); the rest are found later at case inspection (unpacked, then destroyed or
//! decommissioned). A fixed number of good units are QA samples, pulled from their case. The
//! case packer fills each case with the next `case_size` units that reach it, so camera rejects
//! never leave a gap. Pure and deterministic: the caller passes the seeded random source.

use super::spec::LineSpec;

/// The fate of one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Good,
    /// Destroyed before packing, with the reason the reject station gives.
    CameraReject(&'static str),
    /// Packed, then unpacked and ended with `event` (`destroy` or `decommission`).
    LateReject {
        event: &'static str,
        reason: &'static str,
    },
    /// Packed, then unpacked and sampled by QA.
    Sample,
}

const CAMERA_REASONS: [&str; 3] = [
    "camera reject: print grade below C",
    "camera reject: code unreadable",
    "checkweigher reject: leaflet missing",
];
const LATE_DESTROY: &str = "damaged carton found at case inspection";
const LATE_DECOMMISSION: &str = "carton relabelled after rework";

/// The fates of all units, in production order.
pub struct Fates(Vec<Fate>);

impl Fates {
    pub fn draw(spec: &LineSpec, rng: &mut fastrand::Rng) -> Fates {
        let mut fates: Vec<Fate> = (0..spec.units)
            .map(|_| {
                if rng.f64() >= spec.reject_rate {
                    Fate::Good
                } else if rng.u8(..10) < 7 {
                    Fate::CameraReject(CAMERA_REASONS[rng.usize(..CAMERA_REASONS.len())])
                } else if rng.bool() {
                    Fate::LateReject {
                        event: "destroy",
                        reason: LATE_DESTROY,
                    }
                } else {
                    Fate::LateReject {
                        event: "decommission",
                        reason: LATE_DECOMMISSION,
                    }
                }
            })
            .collect();
        let mut good: Vec<usize> = (0..fates.len())
            .filter(|&i| fates[i] == Fate::Good)
            .collect();
        for _ in 0..spec.samples {
            if good.is_empty() {
                break;
            }
            let i = good.swap_remove(rng.usize(..good.len()));
            fates[i] = Fate::Sample;
        }
        Fates(fates)
    }

    pub fn of(&self, unit: usize) -> Fate {
        self.0[unit]
    }

    /// Unit indices per case: each segment runs up to and including the `case_size`-th unit
    /// that reaches the case packer (not a camera reject). A last segment may be short, or hold
    /// only camera rejects.
    pub fn segments(&self, case_size: usize) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        let mut current = Vec::new();
        let mut packed = 0;
        for (i, fate) in self.0.iter().enumerate() {
            current.push(i);
            if !matches!(fate, Fate::CameraReject(_)) {
                packed += 1;
            }
            if packed == case_size {
                out.push(std::mem::take(&mut current));
                packed = 0;
            }
        }
        if !current.is_empty() {
            out.push(current);
        }
        out
    }
}
