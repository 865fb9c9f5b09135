//! The portfolio, the default strategy: one member strategy per execution, chosen by the
//! seed and the execution's number, so that one exploration is strong on every shape of bug
//! that one of its members is strong on.
//!
//! The shares: SURW 40%, POS 20%, PCT with a random depth 15%, URW 15%, uniform random 10%.
//! SURW finds the bugs where one object's accesses must interleave in a rare way among much
//! unrelated work; POS the races among a few threads' steps (a stack, an account); PCT the
//! bugs of a few ordering constraints; URW the late steps of long threads; random keeps an
//! unbiased share.
//!
//! The members that estimate (SURW, URW, PCT's step bound) learn from execution 1, whichever
//! member runs it: the portfolio watches that execution and gives them what it saw. Every
//! execution is thus a function of the seed and its number
//! ([`Scheduler::independent_executions`]). Its trace's header names the member, as
//! `portfolio(surw)`.

use std::sync::Arc;

use super::profile::ProfileBuilder;
use super::{
    Decision, PctScheduler, PosScheduler, RandomScheduler, Scheduler, Strategy, SurwScheduler,
    ThreadId, UrwScheduler, below, mix_seed,
};

/// A member strategy of the portfolio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Member {
    Surw,
    Pos,
    Pct,
    Urw,
    Random,
}

/// Each member's share of the executions, in percent.
const SHARES: [(Member, u64); 5] = [
    (Member::Surw, 40),
    (Member::Pos, 20),
    (Member::Pct, 15),
    (Member::Urw, 15),
    (Member::Random, 10),
];

impl Member {
    fn strategy(self) -> Strategy {
        match self {
            Member::Surw => Strategy::Surw,
            Member::Pos => Strategy::Pos,
            Member::Pct => Strategy::PctRandomDepth,
            Member::Urw => Strategy::Urw,
            Member::Random => Strategy::Random,
        }
    }

    /// The member for execution `iteration` of an exploration with this seed.
    fn for_execution(seed: u64, iteration: usize) -> Member {
        let total: u64 = SHARES.iter().map(|(_, share)| share).sum();
        let mut draw = below(mix_seed(seed ^ MEMBER_SALT, iteration), total);
        for (member, share) in SHARES {
            if draw < share {
                return member;
            }
            draw -= share;
        }
        unreachable!("the draw is below the sum of the shares")
    }
}

/// Whether `strategy` is one of the portfolio's members.
pub(crate) fn is_member(strategy: &Strategy) -> bool {
    SHARES
        .iter()
        .any(|(member, _)| member.strategy() == *strategy)
}

/// Keeps the draw of the member apart from the members' own draws.
const MEMBER_SALT: u64 = 0x706f_7274_666f_6c69;

/// One member strategy per execution.
#[derive(Debug)]
pub struct PortfolioScheduler {
    seed: u64,
    member: Member,
    surw: SurwScheduler,
    pos: PosScheduler,
    pct: PctScheduler,
    urw: UrwScheduler,
    random: RandomScheduler,
    /// Execution 1, watched for the members that estimate.
    learning: Option<ProfileBuilder>,
}

impl PortfolioScheduler {
    /// A portfolio whose executions are all determined by `seed`.
    pub fn new(seed: u64) -> PortfolioScheduler {
        let member_seed = |salt: u64| mix_seed(seed, salt as usize);
        PortfolioScheduler {
            seed,
            member: Member::Random,
            surw: SurwScheduler::new(member_seed(1)),
            pos: PosScheduler::new(member_seed(2)),
            pct: PctScheduler::random_depth(member_seed(3)),
            urw: UrwScheduler::new(member_seed(4)),
            random: RandomScheduler::new(member_seed(5)),
            learning: None,
        }
    }

    fn member_mut(&mut self) -> &mut dyn Scheduler {
        match self.member {
            Member::Surw => &mut self.surw,
            Member::Pos => &mut self.pos,
            Member::Pct => &mut self.pct,
            Member::Urw => &mut self.urw,
            Member::Random => &mut self.random,
        }
    }
}

impl Scheduler for PortfolioScheduler {
    fn begin_execution(&mut self, iteration: usize) {
        self.member = Member::for_execution(self.seed, iteration);
        if iteration == 1 {
            self.learning = Some(ProfileBuilder::default());
        }
        self.member_mut().begin_execution(iteration);
    }

    fn end_execution(&mut self, steps: u64) {
        self.member_mut().end_execution(steps);
        if let Some(learning) = self.learning.take() {
            let profile = Arc::new(learning.finish(steps));
            self.pct.set_step_estimate(profile.steps);
            self.urw.adopt(Arc::clone(&profile));
            self.surw.adopt(profile);
        }
    }

    #[inline]
    fn next_thread(&mut self, decision: &Decision<'_>) -> ThreadId {
        // Matched here, not through `member_mut`, so that the members are called directly.
        let chosen = match self.member {
            Member::Surw => self.surw.next_thread(decision),
            Member::Pos => self.pos.next_thread(decision),
            Member::Pct => self.pct.next_thread(decision),
            Member::Urw => self.urw.next_thread(decision),
            Member::Random => self.random.next_thread(decision),
        };
        if let Some(learning) = &mut self.learning {
            learning.observe(decision, chosen);
        }
        chosen
    }

    fn describe(&self) -> String {
        self.strategy().to_string()
    }

    fn describe_execution(&self) -> Option<String> {
        Some(format!("portfolio({})", self.member.strategy()))
    }

    fn strategy(&self) -> Strategy {
        Strategy::Portfolio
    }

    fn independent_executions(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::{Member, SHARES};

    #[test]
    fn members_get_about_their_shares() {
        let executions = 100_000;
        for (member, share) in SHARES {
            let count = (1..=executions)
                .filter(|&iteration| Member::for_execution(7, iteration) == member)
                .count();
            let expected = executions * share as usize / 100;
            assert!(
                count.abs_diff(expected) < executions / 100,
                "{member:?}: {count} of {executions}, expected about {expected}"
            );
        }
    }

    #[test]
    fn the_member_depends_on_the_seed_and_the_execution_only() {
        let first: Vec<Member> = (1..50).map(|i| Member::for_execution(3, i)).collect();
        let again: Vec<Member> = (1..50).map(|i| Member::for_execution(3, i)).collect();
        assert_eq!(first, again);
        let other: Vec<Member> = (1..50).map(|i| Member::for_execution(4, i)).collect();
        assert_ne!(first, other);
    }
}
