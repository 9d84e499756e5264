//! Fault injection: the misbehaviours a client must survive (throttling,
//! unavailable gateways, answers lost after the work was done), drawn from a
//! seeded generator so a failing run can be replayed with the same `--seed`,
//! plus lost answers to the first requests of named actions, for tests that
//! need one exactly where it hurts.

use std::collections::BTreeMap;
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

/// `--lose-answers`: how many first answers to each action are lost.
pub type LoseAnswers = BTreeMap<String, u32>;

/// Draws a [`Verdict`] per request.
#[derive(Debug)]
pub struct FaultPlan {
    fault_rate: f64,
    kinds: Vec<FaultKind>,
    lost_rate: f64,
    rng: fastrand::Rng,
    /// Answers still to lose, per action.
    lose: LoseAnswers,
}

impl FaultPlan {
    pub fn new(fault_rate: f64, kinds: Vec<FaultKind>, lost_rate: f64, rng: fastrand::Rng) -> Self {
        FaultPlan {
            fault_rate,
            kinds,
            lost_rate,
            rng,
            lose: LoseAnswers::new(),
        }
    }

    /// Also loses the answers to the first requests of these actions.
    pub fn losing(mut self, lose: LoseAnswers) -> Self {
        self.lose = lose;
        self
    }

    /// The fate of the next request, for `action`: a drawn fault or loss
    /// first, then a loss still owed to the action.
    pub fn next_for(&mut self, action: Option<&str>) -> Verdict {
        let drawn = self.next();
        if drawn != Verdict::Normal {
            return drawn;
        }
        match action.and_then(|a| self.lose.get_mut(a)) {
            Some(left) if *left > 0 => {
                *left -= 1;
                Verdict::Lost
            }
            _ => Verdict::Normal,
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
    fn named_actions_lose_their_first_answers_only() {
        let lose = LoseAnswers::from([("CopyCustomImage".to_string(), 2)]);
        let mut plan = FaultPlan::new(0.0, FaultKind::ALL.to_vec(), 0.0, fastrand::Rng::with_seed(1)).losing(lose);
        assert_eq!(plan.next_for(Some("DescribeImage")), Verdict::Normal);
        assert_eq!(plan.next_for(Some("CopyCustomImage")), Verdict::Lost);
        assert_eq!(plan.next_for(None), Verdict::Normal);
        assert_eq!(plan.next_for(Some("CopyCustomImage")), Verdict::Lost);
        assert_eq!(plan.next_for(Some("CopyCustomImage")), Verdict::Normal);
    }

    #[test]
    fn kinds_parse_from_their_labels_only() {
        for kind in FaultKind::ALL {
            assert_eq!(kind.label().parse::<FaultKind>(), Ok(kind));
        }
        assert!("500".parse::<FaultKind>().is_err());
    }
}
