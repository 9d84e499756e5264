//! Fault injection: the misbehaviours a client must survive (throttling,
//! unavailable gateways, answers lost after the work was done), drawn from a
//! seeded generator so a failing run can be replayed with the same `--seed`.

use std::fmt;
use std::str::FromStr;

/// A fault answered instead of performing the action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// HTTP 429 Too Many Requests from the gateway.
    Http429,
    /// HTTP 503 Service Unavailable from the gateway.
    Http503,
    /// RetCode 153 "request throttled" in a normal envelope.
    Throttled153,
    /// RetCode 150 "service unavailable" in a normal envelope.
    Unavailable150,
}

impl FaultKind {
    pub const ALL: [FaultKind; 4] = [
        FaultKind::Http429,
        FaultKind::Http503,
        FaultKind::Throttled153,
        FaultKind::Unavailable150,
    ];

    /// The name used on the command line and in the journal.
    pub fn label(self) -> &'static str {
        match self {
            FaultKind::Http429 => "429",
            FaultKind::Http503 => "503",
            FaultKind::Throttled153 => "153",
            FaultKind::Unavailable150 => "150",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for FaultKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.label() == s)
            .ok_or_else(|| format!("`{s}` is not a fault kind (429, 503, 153, 150)"))
    }
}

/// What happens to one API request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Performed and answered.
    Normal,
    /// Not performed; this fault is answered instead.
    Fault(FaultKind),
    /// Performed, then the connection is closed without an answer.
    Lost,
}

/// Draws a [`Verdict`] per request.
#[derive(Debug)]
pub struct FaultPlan {
    fault_rate: f64,
    kinds: Vec<FaultKind>,
    lost_rate: f64,
    rng: fastrand::Rng,
}

impl FaultPlan {
    pub fn new(fault_rate: f64, kinds: Vec<FaultKind>, lost_rate: f64, rng: fastrand::Rng) -> Self {
        FaultPlan {
            fault_rate,
            kinds,
            lost_rate,
            rng,
        }
    }

    /// The fate of the next request. A fault is drawn first, so with both
    /// rates at 1.0 every request is faulted and none is lost.
    pub fn next(&mut self) -> Verdict {
        if !self.kinds.is_empty() && self.rng.f64() < self.fault_rate {
            let kind = self.kinds[self.rng.usize(..self.kinds.len())];
            return Verdict::Fault(kind);
        }
        if self.rng.f64() < self.lost_rate {
            return Verdict::Lost;
        }
        Verdict::Normal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(plan: &mut FaultPlan, n: usize) -> Vec<Verdict> {
        (0..n).map(|_| plan.next()).collect()
    }

    #[test]
    fn zero_rates_never_misbehave() {
        let mut plan = FaultPlan::new(0.0, FaultKind::ALL.to_vec(), 0.0, fastrand::Rng::with_seed(1));
        assert!(draws(&mut plan, 1000).iter().all(|v| *v == Verdict::Normal));
    }

    #[test]
    fn rate_one_with_one_kind_always_answers_that_fault() {
        let mut plan = FaultPlan::new(1.0, vec![FaultKind::Http503], 1.0, fastrand::Rng::with_seed(1));
        assert!(
            draws(&mut plan, 100)
                .iter()
                .all(|v| *v == Verdict::Fault(FaultKind::Http503))
        );
    }

    #[test]
    fn lost_rate_one_loses_every_answer() {
        let mut plan = FaultPlan::new(0.0, FaultKind::ALL.to_vec(), 1.0, fastrand::Rng::with_seed(1));
        assert!(draws(&mut plan, 100).iter().all(|v| *v == Verdict::Lost));
    }

    #[test]
    fn the_same_seed_replays_the_same_faults() {
        let plan = |seed| FaultPlan::new(0.5, FaultKind::ALL.to_vec(), 0.3, fastrand::Rng::with_seed(seed));
        let a = draws(&mut plan(42), 200);
        assert_eq!(a, draws(&mut plan(42), 200));
        assert_ne!(a, draws(&mut plan(43), 200));
        for kind in FaultKind::ALL {
            assert!(a.contains(&Verdict::Fault(kind)), "{kind} never drawn");
        }
        assert!(a.contains(&Verdict::Lost) && a.contains(&Verdict::Normal));
    }

    #[test]
    fn kinds_parse_from_their_labels_only() {
        for kind in FaultKind::ALL {
            assert_eq!(kind.label().parse::<FaultKind>(), Ok(kind));
        }
        assert!("500".parse::<FaultKind>().is_err());
    }
}
