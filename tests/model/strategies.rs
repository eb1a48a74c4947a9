//! What proptest generates: operations per property group, with values on
//! every boundary the contract names: range ends on saved samples (±1 ms),
//! retention cut-offs and delete cut-offs on samples (±1 ms), TTLs,
//! requeue cut-offs, pause ends and log windows on what was written (±1 s),
//! limits and thresholds at the match count (−1, 0, +1) as well as fixed,
//! `0` and negative inputs where the contract rejects them.

use affine_db::ttl::DAY_S;
use proptest::prelude::*;
use proptest::sample::select;

use super::ops::*;

fn idx(n: u8) -> impl Strategy<Value = u8> {
    0..n
}

/// Mostly 0, so one partition fills up and limits bite after filters.
fn hot(n: u8) -> impl Strategy<Value = u8> {
    prop_oneof![3 => Just(0u8), 1 => 0..n]
}

/// -1, 0 or +1: just before, on and just after a boundary.
fn around() -> impl Strategy<Value = i64> {
    -1i64..=1
}

/// A fixed limit (0..4) or one at the match count −1, 0 or +1.
fn limit() -> impl Strategy<Value = Limit> {
    prop_oneof![
        (0usize..4).prop_map(Limit::At),
        (-1i8..=1).prop_map(Limit::Matches),
    ]
}

/// A positive threshold or one at the match count −1, 0 or +1.
fn threshold() -> impl Strategy<Value = Limit> {
    prop_oneof![
        (1usize..4).prop_map(Limit::At),
        (-1i8..=1).prop_map(Limit::Matches),
    ]
}

/// A valid sample (mostly), sometimes with an invalid part or a NaN score.
pub fn sample_spec(invalid_weight: u32) -> impl Strategy<Value = SampleSpec> {
    let bad = prop_oneof![
        100 => Just(None),
        invalid_weight => (idx(4), idx(4)).prop_map(Some),
    ];
    (
        idx(3),
        idx(2),
        idx(3),
        idx(3),
        prop_oneof![1 => Just(None), 6 => idx(AGES.len() as u8).prop_map(Some)],
        idx(SCORES.len() as u8),
        bad,
        prop_oneof![30 => Just(false), invalid_weight / 10 + 1 => Just(true)],
    )
        .prop_map(|(hk, rev, env, id, age, score, bad, nan)| SampleSpec {
            hk,
            rev,
            env,
            id,
            age,
            score,
            bad,
            nan,
        })
}

fn clock_ops() -> BoxedStrategy<Op> {
    prop_oneof![
        select(vec![
            1i64,
            999,
            1000,
            3_600_000,
            DAY_MS,
            7 * DAY_MS,
            30 * DAY_MS
        ])
        .prop_map(Op::Advance),
        (idx(8), around()).prop_map(|(k, d)| Op::ToTaskTtl(k, d)),
        (idx(8), around()).prop_map(|(k, d)| Op::ToLogTtl(k, d)),
        (idx(8), around()).prop_map(|(k, d)| Op::ToScoreTtl(k, d)),
        (idx(8), select(vec![0i64, 1, 2, 90]), around())
            .prop_map(|(k, days, d)| Op::ToCutoff(k, days, d)),
        (idx(3), around()).prop_map(|(h, d)| Op::ToPauseEnd(h, d)),
    ]
    .boxed()
}

fn env_range() -> impl Strategy<Value = Range> {
    prop_oneof![
        (idx(AGES.len() as u8), idx(AGES.len() as u8)).prop_map(|(a, b)| Range::Ages(a, b)),
        // Both ends on, just inside or just outside a saved sample.
        (idx(16), select(vec![-DAY_MS, -1, 0, 1]), around())
            .prop_map(|(k, start, end)| Range::AroundSample { k, start, end }),
        Just(Range::Span),
    ]
}

fn sample_ops(invalid_weight: u32) -> BoxedStrategy<Op> {
    prop_oneof![
        4 => sample_spec(invalid_weight).prop_map(Op::SaveSample),
        2 => prop::collection::vec(sample_spec(invalid_weight), 1..5).prop_map(Op::SaveSamples),
        2 => (idx(16), any::<bool>(), any::<bool>()).prop_map(|(k, miss, conv)| Op::GetSample { k, miss, conv }),
        2 => (idx(3), idx(2), prop::option::of(idx(3)), prop::option::of(limit()), any::<bool>(), any::<bool>())
            .prop_map(|(hk, rev, env, limit, newest, conv)| Op::ByMiner { hk, rev, env, limit, newest, conv }),
        3 => (idx(3), env_range(), prop::option::of(limit()), any::<bool>())
            .prop_map(|(env, range, limit, conv)| Op::ByEnv { env, range, limit, conv }),
        1 => (idx(3), idx(2), idx(16), around()).prop_map(|(hk, rev, k, delta)| Op::DeleteBefore { hk, rev, k, delta }),
    ]
    .boxed()
}

fn create_task(invalid_weight: u32) -> BoxedStrategy<Op> {
    (
        hot(3),
        hot(2),
        idx(3),
        idx(2),
        0i64..3,
        prop::option::of(select(vec![0i64, 1, 2, 7])),
        prop_oneof![100 => Just(None), invalid_weight => (idx(3), idx(4)).prop_map(Some)],
    )
        .prop_map(
            |(hk, rev, env, hash, priority, ttl_days, bad)| Op::CreateTask {
                hk,
                rev,
                env,
                hash,
                priority,
                ttl_days,
                bad,
            },
        )
        .boxed()
}

fn task_ops(invalid_weight: u32) -> BoxedStrategy<Op> {
    prop_oneof![
        4 => create_task(invalid_weight),
        2 => idx(8).prop_map(Op::GetTask),
        2 => (limit(), any::<bool>()).prop_map(|(l, p)| Op::Pending(l, p)),
        3 => idx(8).prop_map(Op::Start),
        1 => (idx(8), idx(2)).prop_map(|(k, h)| Op::StartChecked(k, h)),
        1 => idx(8).prop_map(Op::Claim),
        2 => idx(8).prop_map(Op::ClaimRace),
        1 => idx(8).prop_map(Op::Complete),
        2 => idx(8).prop_map(Op::Fail),
        3 => (hot(3), hot(2), prop::option::of(idx(3)), prop::option::of(limit()))
            .prop_map(|(hk, rev, status, limit)| Op::TasksByMiner { hk, rev, status, limit }),
        2 => (hot(3), hot(2)).prop_map(|(h, r)| Op::DeleteMinerTasks(h, r)),
        1 => select(vec![-1i64, 0, 60, 3600]).prop_map(Op::Requeue),
        2 => (idx(8), around()).prop_map(|(k, d)| Op::RequeueAt(k, d)),
    ]
    .boxed()
}

fn window() -> impl Strategy<Value = Window> {
    prop_oneof![
        select(vec![0i64, 1, 60, DAY_S, 7 * DAY_S]).prop_map(Window::Secs),
        (idx(8), around()).prop_map(|(k, d)| Window::AtLog(k, d)),
    ]
}

fn log_ops(invalid_weight: u32) -> BoxedStrategy<Op> {
    prop_oneof![
        4 => (hot(3), any::<bool>(), idx(3), prop::option::of(idx(2)),
              prop_oneof![100 => Just(None), invalid_weight => idx(4).prop_map(Some)])
            .prop_map(|(hk, failed, env, error_type, bad)| Op::Log { hk, failed, env, error_type, bad }),
        2 => (hot(3), limit(), prop::option::of(any::<bool>()))
            .prop_map(|(hk, limit, status)| Op::Recent { hk, limit, status }),
        2 => (hot(3), threshold()).prop_map(|(h, n)| Op::Consecutive(h, n)),
        1 => (idx(3), window()).prop_map(|(h, w)| Op::ErrorSummary(h, w)),
        1 => (idx(3), window()).prop_map(|(h, w)| Op::ExecStats(h, w)),
    ]
    .boxed()
}

fn score_ops(invalid_weight: u32) -> BoxedStrategy<Op> {
    prop_oneof![
        3 => (idx(4), idx(5), idx(SCORES.len() as u8), prop_oneof![30 => Just(false), invalid_weight / 10 + 1 => Just(true)])
            .prop_map(|(block, hk, score, nan)| Op::SaveScore { block, hk, score, nan }),
        // Up to five miners, scores from a few values so ties are common.
        3 => (idx(4), prop::collection::vec((idx(5), prop_oneof![idx(3), idx(SCORES.len() as u8)]), 0..6))
            .prop_map(|(block, rows)| Op::Snapshot { block, rows }),
        2 => idx(4).prop_map(Op::ScoresAt),
        1 => Just(Op::Latest),
        1 => (idx(4), idx(3)).prop_map(|(b, h)| Op::MinerScoreAt(b, h)),
        2 => (idx(3), limit()).prop_map(|(h, n)| Op::History(h, n)),
    ]
    .boxed()
}

fn config_ops(invalid_weight: u32) -> BoxedStrategy<Op> {
    prop_oneof![
        4 => (idx(3), idx(7), prop_oneof![100 => Just(None), invalid_weight => idx(4).prop_map(Some)])
            .prop_map(|(name, kind, bad)| Op::SetParam { name, kind, bad }),
        2 => idx(3).prop_map(Op::GetParam),
        1 => idx(3).prop_map(Op::DeleteParam),
        1 => Just(Op::ListConfigs),
        1 => Just(Op::AllParams),
    ]
    .boxed()
}

fn miner_ops(invalid_weight: u32) -> BoxedStrategy<Op> {
    prop_oneof![
        3 => (hot(3), idx(3), prop::option::of(select(vec![5i64, 7, 9])),
              prop::option::of(select(vec![0i64, 60])),
              prop_oneof![100 => Just(None), invalid_weight => idx(4).prop_map(Some)])
            .prop_map(|(hk, hash, first_block, checked_ago, bad)| Op::SaveMeta { hk, hash, first_block, checked_ago, bad }),
        2 => hot(3).prop_map(Op::GetMeta),
        // Runs of counts on one miner, so a failure followed by a success
        // (which resets consecutive_errors) is common.
        4 => (hot(3), prop::collection::vec((any::<bool>(), prop_oneof![3 => Just(true), 1 => Just(false)]), 1..5))
            .prop_map(|(h, v)| Op::UpdateStats(h, v)),
        3 => (hot(3), prop::option::weighted(0.8, select(vec![-1i64, 0, 1, 60, DAY_S]))).prop_map(|(h, d)| Op::Pause(h, d)),
        1 => hot(3).prop_map(Op::Unpause),
        2 => hot(3).prop_map(Op::CheckPause),
        1 => Just(Op::AllMiners),
    ]
    .boxed()
}

fn retention_ops(invalid_weight: u32) -> BoxedStrategy<Op> {
    prop_oneof![
        3 => (idx(3), any::<bool>(), select(vec![-1i64, 0, 1, 2, 90]),
              prop_oneof![100 => Just(None), invalid_weight => idx(4).prop_map(Some)])
            .prop_map(|(hk, protected, days, bad)| Op::SetPolicy { hk, protected, days, bad }),
        2 => (idx(3), prop::option::of(select(vec![0i64, DAY_S, i64::MAX / 4]))).prop_map(|(h, a)| Op::Protect(h, a)),
        2 => idx(3).prop_map(Op::Unprotect),
        1 => idx(3).prop_map(Op::GetPolicy),
        1 => idx(3).prop_map(Op::CleanupTs),
        1 => Just(Op::AllPolicies),
        3 => any::<bool>().prop_map(Op::Cleanup),
    ]
    .boxed()
}

fn admin_ops() -> BoxedStrategy<Op> {
    prop_oneof![Just(Op::Stats), Just(Op::Purge)].boxed()
}

/// The property groups, each a mix of the ops it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Invalid key parts everywhere, plus reads.
    Keys,
    /// TTL'd tables with clock moves onto ttls, and purges.
    Ttl,
    /// Samples, policies, snapshots, cleanups and cut-off moves.
    Retention,
    /// Score snapshots and their top-3 protection.
    Top3,
    /// The task queue.
    Tasks,
    /// Config versions.
    Config,
    /// Miner counters and pauses.
    Miners,
    /// Everything.
    All,
}

impl Group {
    /// The file its failing cases are kept in (committed, replayed first).
    pub fn regressions(self) -> &'static str {
        match self {
            Group::Keys => "tests/prop_backends_keys.proptest-regressions",
            Group::Ttl => "tests/prop_backends_ttl.proptest-regressions",
            Group::Retention => "tests/prop_backends_retention.proptest-regressions",
            Group::Top3 => "tests/prop_backends_top3.proptest-regressions",
            Group::Tasks => "tests/prop_backends_tasks.proptest-regressions",
            Group::Config => "tests/prop_backends_config.proptest-regressions",
            Group::Miners => "tests/prop_backends_miners.proptest-regressions",
            Group::All => "tests/prop_backends_all.proptest-regressions",
        }
    }
}

/// Operations of `group`.
pub fn op_strategy(group: Group) -> BoxedStrategy<Op> {
    match group {
        Group::Keys => prop_oneof![
            3 => sample_ops(60),
            2 => task_ops(60),
            1 => log_ops(60),
            1 => config_ops(60),
            1 => miner_ops(60),
            1 => retention_ops(60),
            1 => score_ops(60),
            1 => admin_ops(),
        ]
        .boxed(),
        Group::Ttl => prop_oneof![
            4 => clock_ops(),
            3 => task_ops(3),
            3 => log_ops(3),
            2 => score_ops(3),
            2 => admin_ops(),
        ]
        .boxed(),
        Group::Retention => prop_oneof![
            4 => sample_ops(3),
            3 => retention_ops(3),
            2 => score_ops(3),
            3 => clock_ops(),
            1 => admin_ops(),
        ]
        .boxed(),
        Group::Top3 => prop_oneof![
            4 => score_ops(3),
            2 => retention_ops(3),
            2 => sample_ops(3),
            2 => clock_ops(),
        ]
        .boxed(),
        Group::Tasks => prop_oneof![
            6 => task_ops(3),
            2 => clock_ops(),
            1 => miner_ops(3),
            1 => admin_ops(),
        ]
        .boxed(),
        Group::Config => prop_oneof![4 => config_ops(10), 1 => clock_ops()].boxed(),
        Group::Miners => prop_oneof![
            4 => miner_ops(10),
            1 => clock_ops(),
            // Onto a pause end (and the pause-expired rule there).
            1 => (hot(3), around()).prop_map(|(h, d)| Op::ToPauseEnd(h, d)),
        ]
        .boxed(),
        Group::All => prop_oneof![
            2 => clock_ops(),
            2 => sample_ops(5),
            2 => task_ops(5),
            1 => log_ops(5),
            1 => score_ops(5),
            1 => config_ops(5),
            1 => miner_ops(5),
            1 => retention_ops(5),
            1 => admin_ops(),
        ]
        .boxed(),
    }
}

/// A sequence of `min..max` operations of `group`.
pub fn sequence(group: Group, min: usize, max: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op_strategy(group), min..max)
}
