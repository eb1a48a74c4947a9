//! `scores`: rows, whole-block snapshots, latest, history, visibility.

use super::basics::{assert_store_empty, put_raw, score};
use super::Harness;
use crate::clock::Clock;
use crate::error::Error;
use crate::register;
use crate::schema::Table;
use crate::tables::scores::{snapshot_header, Score, SNAPSHOT_COMPLETE, SNAPSHOT_WRITING};
use crate::ttl::{expires_at, SCORE_TTL_DAYS};

fn hotkeys(scores: &[Score]) -> Vec<String> {
    scores.iter().map(|s| s.miner_hotkey.clone()).collect()
}

fn blocks(scores: &[Score]) -> Vec<i64> {
    scores.iter().map(|s| s.block_number).collect()
}

/// A saved row reads back field for field (floats exactly, maps, 1.0 as
/// a float), by block and by miner; saving again replaces it.
pub async fn save_score_round_trips_and_replaces(h: Harness) {
    let mut s = score(10, "hk", 1.0);
    s.confidence_interval_lower = 0.1 + 0.2;
    s.scores_by_layer.insert("deep".into(), -2.5e-10);
    h.store.scores.save_score(s.clone()).await.unwrap();
    let got = h
        .store
        .scores
        .get_miner_score_at_block(10, "hk")
        .await
        .unwrap();
    assert_eq!(got.as_ref(), Some(&s));
    let got = got.unwrap();
    assert_eq!(
        got.confidence_interval_lower.to_bits(),
        (0.1f64 + 0.2).to_bits()
    );
    assert_eq!(got.overall_score, 1.0);
    assert_eq!(
        h.store.scores.get_scores_at_block(10).await.unwrap(),
        vec![s.clone()]
    );
    let replaced = Score {
        overall_score: 0.25,
        ..s.clone()
    };
    h.store.scores.save_score(replaced.clone()).await.unwrap();
    assert_eq!(
        h.store.scores.get_scores_at_block(10).await.unwrap(),
        vec![replaced]
    );
    assert_eq!(
        h.store
            .scores
            .get_miner_score_at_block(11, "hk")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        h.store
            .scores
            .get_miner_score_at_block(10, "other")
            .await
            .unwrap(),
        None
    );
}
register!(save_score_round_trips_and_replaces);

/// `get_scores_at_block` returns the block's rows by hotkey, and only that block's.
pub async fn scores_at_block_sorted_by_hotkey(h: Harness) {
    for hk in ["charlie", "alpha", "bravo"] {
        h.store.scores.save_score(score(5, hk, 0.5)).await.unwrap();
    }
    h.store
        .scores
        .save_score(score(50, "delta", 0.5))
        .await
        .unwrap();
    let got = h.store.scores.get_scores_at_block(5).await.unwrap();
    assert_eq!(hotkeys(&got), ["alpha", "bravo", "charlie"]);
    assert!(h
        .store
        .scores
        .get_scores_at_block(6)
        .await
        .unwrap()
        .is_empty());
}
register!(scores_at_block_sorted_by_hotkey);

/// `save_snapshot` leaves the block holding exactly the new rows: rows not
/// in the new snapshot disappear; other blocks are untouched.
pub async fn save_snapshot_replaces_the_block_exactly(h: Harness) {
    let first = vec![score(7, "a", 0.1), score(7, "b", 0.2), score(7, "c", 0.3)];
    h.store
        .scores
        .save_snapshot(7, first.clone())
        .await
        .unwrap();
    h.store
        .scores
        .save_snapshot(8, vec![score(8, "a", 0.9)])
        .await
        .unwrap();
    assert_eq!(h.store.scores.get_scores_at_block(7).await.unwrap(), first);
    let second = vec![score(7, "d", 0.4), score(7, "b", 0.8)];
    h.store.scores.save_snapshot(7, second).await.unwrap();
    let got = h.store.scores.get_scores_at_block(7).await.unwrap();
    assert_eq!(hotkeys(&got), ["b", "d"]);
    assert_eq!(got[0].overall_score, 0.8);
    assert_eq!(
        h.store
            .scores
            .get_miner_score_at_block(7, "a")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        h.store.scores.get_scores_at_block(8).await.unwrap().len(),
        1
    );
    // A snapshot over rows written by save_score replaces them too.
    h.store.scores.save_score(score(9, "x", 0.5)).await.unwrap();
    h.store
        .scores
        .save_snapshot(9, vec![score(9, "y", 0.5)])
        .await
        .unwrap();
    assert_eq!(
        hotkeys(&h.store.scores.get_scores_at_block(9).await.unwrap()),
        ["y"]
    );
}
register!(save_snapshot_replaces_the_block_exactly);

/// An empty snapshot empties the block, which then no longer counts as latest.
pub async fn empty_snapshot_empties_the_block(h: Harness) {
    h.store
        .scores
        .save_snapshot(10, vec![score(10, "a", 0.5)])
        .await
        .unwrap();
    h.store
        .scores
        .save_snapshot(11, vec![score(11, "a", 0.5)])
        .await
        .unwrap();
    h.store.scores.save_snapshot(11, Vec::new()).await.unwrap();
    assert!(h
        .store
        .scores
        .get_scores_at_block(11)
        .await
        .unwrap()
        .is_empty());
    let latest = h.store.scores.get_latest_scores().await.unwrap().unwrap();
    assert_eq!(latest.block_number, 10);
}
register!(empty_snapshot_empties_the_block);

/// `get_latest_scores` is `None` on an empty table, else the highest block
/// with its rows by hotkey and the newest `calculated_at`.
pub async fn latest_scores_is_the_highest_block(h: Harness) {
    assert_eq!(h.store.scores.get_latest_scores().await.unwrap(), None);
    h.store
        .scores
        .save_snapshot(5, vec![score(5, "a", 0.1)])
        .await
        .unwrap();
    let mut rows = vec![score(100, "zed", 0.3), score(100, "amy", 0.2)];
    rows[0].calculated_at += 50;
    h.store
        .scores
        .save_snapshot(100, rows.clone())
        .await
        .unwrap();
    h.store
        .scores
        .save_score(score(99, "b", 0.1))
        .await
        .unwrap();
    h.store
        .scores
        .save_score(score(20, "c", 0.1))
        .await
        .unwrap();
    let latest = h.store.scores.get_latest_scores().await.unwrap().unwrap();
    assert_eq!(latest.block_number, 100);
    assert_eq!(latest.calculated_at, rows[0].calculated_at);
    assert_eq!(hotkeys(&latest.scores), ["amy", "zed"]);
    assert_eq!(latest.scores[1], rows[0]);
    // Block numbers compare as numbers, not text ("1000" > "999").
    h.store
        .scores
        .save_score(score(999, "d", 0.1))
        .await
        .unwrap();
    h.store
        .scores
        .save_score(score(1000, "e", 0.1))
        .await
        .unwrap();
    let latest = h.store.scores.get_latest_scores().await.unwrap().unwrap();
    assert_eq!(latest.block_number, 1000);
}
register!(latest_scores_is_the_highest_block);

/// `get_miner_score_history` returns the miner's rows among the N most
/// recent blocks that have scores, newest first; blocks where the miner is
/// absent still count towards N.
pub async fn miner_score_history_counts_recent_blocks(h: Harness) {
    for b in 1..=5 {
        if b != 4 {
            h.store
                .scores
                .save_score(score(b, "a", b as f64))
                .await
                .unwrap();
        }
        h.store.scores.save_score(score(b, "b", 0.5)).await.unwrap();
    }
    h.store
        .scores
        .save_score(score(10, "b", 0.5))
        .await
        .unwrap();
    let three = h
        .store
        .scores
        .get_miner_score_history("a", 4)
        .await
        .unwrap();
    assert_eq!(blocks(&three), [5, 3]);
    assert!(three.iter().all(|s| s.miner_hotkey == "a"));
    let all = h
        .store
        .scores
        .get_miner_score_history("a", 100)
        .await
        .unwrap();
    assert_eq!(blocks(&all), [5, 3, 2, 1]);
    assert_eq!(all[0].overall_score, 5.0);
    let b = h
        .store
        .scores
        .get_miner_score_history("b", 2)
        .await
        .unwrap();
    assert_eq!(blocks(&b), [10, 5]);
    assert!(h
        .store
        .scores
        .get_miner_score_history("a", 1)
        .await
        .unwrap()
        .is_empty());
    assert!(h
        .store
        .scores
        .get_miner_score_history("a", 0)
        .await
        .unwrap()
        .is_empty());
    assert!(h
        .store
        .scores
        .get_miner_score_history("nobody", 10)
        .await
        .unwrap()
        .is_empty());
}
register!(miner_score_history_counts_recent_blocks);

/// Non-finite numbers anywhere in a row, a negative block and a bad hotkey
/// are input errors; nothing is written.
pub async fn score_invalid_numbers_rejected(h: Harness) {
    let bad_rows = [
        Score {
            overall_score: f64::NAN,
            ..score(1, "a", 0.5)
        },
        Score {
            overall_score: f64::INFINITY,
            ..score(1, "a", 0.5)
        },
        Score {
            confidence_interval_lower: f64::NEG_INFINITY,
            ..score(1, "a", 0.5)
        },
        Score {
            confidence_interval_upper: f64::NAN,
            ..score(1, "a", 0.5)
        },
        Score {
            average_score: f64::NAN,
            ..score(1, "a", 0.5)
        },
        {
            let mut s = score(1, "a", 0.5);
            s.scores_by_env.insert("sat".into(), f64::NAN);
            s
        },
        {
            let mut s = score(1, "a", 0.5);
            s.scores_by_layer.insert("L9".into(), f64::INFINITY);
            s
        },
        score(-1, "a", 0.5),
        score(1, "", 0.5),
    ];
    for row in bad_rows {
        let err = h.store.scores.save_score(row.clone()).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { .. }),
            "{row:?}: {err:?}"
        );
        let block = row.block_number;
        let err = h
            .store
            .scores
            .save_snapshot(block, vec![row])
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    }
    assert_store_empty(&h).await;
}
register!(score_invalid_numbers_rejected);

/// A snapshot with duplicate hotkeys or a row of another block is an input
/// error and leaves the block as it was.
pub async fn snapshot_with_bad_rows_changes_nothing(h: Harness) {
    let before = vec![score(3, "a", 0.5), score(3, "b", 0.6)];
    h.store
        .scores
        .save_snapshot(3, before.clone())
        .await
        .unwrap();
    let dup = vec![score(3, "c", 0.1), score(3, "c", 0.2)];
    let err = h.store.scores.save_snapshot(3, dup).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    let other_block = vec![score(3, "c", 0.1), score(4, "d", 0.2)];
    let err = h
        .store
        .scores
        .save_snapshot(3, other_block)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    let err = h
        .store
        .scores
        .save_snapshot(-3, Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert_eq!(h.store.scores.get_scores_at_block(3).await.unwrap(), before);
    assert!(h
        .store
        .scores
        .get_scores_at_block(4)
        .await
        .unwrap()
        .is_empty());
}
register!(snapshot_with_bad_rows_changes_nothing);

/// A block whose header says `writing` (a crashed writer) is invisible to
/// every read; a complete header or a new snapshot makes it visible again.
pub async fn snapshot_being_written_is_invisible(h: Harness) {
    let s = &h.store.scores;
    s.save_snapshot(9, vec![score(9, "a", 0.1)]).await.unwrap();
    let rows = vec![score(10, "a", 0.7), score(10, "b", 0.8)];
    s.save_snapshot(10, rows.clone()).await.unwrap();
    let now_s = h.clock.now_s();
    let ttl = expires_at(now_s, SCORE_TTL_DAYS);
    let header = |status| snapshot_header(10, status, 2, now_s, ttl);
    put_raw(&h, Table::Scores, vec![header(SNAPSHOT_WRITING)]).await;
    assert!(s.get_scores_at_block(10).await.unwrap().is_empty());
    assert_eq!(s.get_miner_score_at_block(10, "a").await.unwrap(), None);
    assert_eq!(
        s.get_latest_scores().await.unwrap().unwrap().block_number,
        9
    );
    assert_eq!(
        blocks(&s.get_miner_score_history("a", 1).await.unwrap()),
        [9]
    );
    assert_eq!(
        blocks(&s.get_miner_score_history("a", 5).await.unwrap()),
        [9]
    );
    put_raw(&h, Table::Scores, vec![header(SNAPSHOT_COMPLETE)]).await;
    assert_eq!(s.get_scores_at_block(10).await.unwrap(), rows);
    assert_eq!(
        s.get_latest_scores().await.unwrap().unwrap().block_number,
        10
    );
    // After a crash, the next snapshot of the block completes it.
    put_raw(&h, Table::Scores, vec![header(SNAPSHOT_WRITING)]).await;
    s.save_snapshot(10, vec![score(10, "c", 0.2)])
        .await
        .unwrap();
    assert_eq!(hotkeys(&s.get_scores_at_block(10).await.unwrap()), ["c"]);
    assert_eq!(
        s.get_latest_scores().await.unwrap().unwrap().block_number,
        10
    );
    assert_eq!(
        blocks(&s.get_miner_score_history("c", 1).await.unwrap()),
        [10]
    );
}
register!(snapshot_being_written_is_invisible);

/// Blocks of more rows than one index page still count once each, newest
/// first: the latest block and a history skip a block being written and
/// find the blocks below it, whatever the number of rows per block.
pub async fn blocks_of_many_rows_are_walked_newest_first(h: Harness) {
    let s = &h.store.scores;
    let rows = |b: i64| -> Vec<Score> {
        (0..130)
            .map(|m| score(b, &format!("m{m:03}"), 0.5))
            .collect()
    };
    for b in [2, 4, 6, 8] {
        s.save_snapshot(b, rows(b)).await.unwrap();
    }
    let now_s = h.clock.now_s();
    let ttl = expires_at(now_s, SCORE_TTL_DAYS);
    let writing = snapshot_header(6, SNAPSHOT_WRITING, 130, now_s, ttl);
    put_raw(&h, Table::Scores, vec![writing]).await;
    let latest = s.get_latest_scores().await.unwrap().unwrap();
    assert_eq!(latest.block_number, 8);
    assert_eq!(latest.scores.len(), 130);
    assert_eq!(
        blocks(&s.get_miner_score_history("m129", 3).await.unwrap()),
        [8, 4, 2]
    );
    assert_eq!(
        blocks(&s.get_miner_score_history("m000", 10).await.unwrap()),
        [8, 4, 2]
    );
    s.save_snapshot(8, Vec::new()).await.unwrap();
    let latest = s.get_latest_scores().await.unwrap().unwrap();
    assert_eq!(latest.block_number, 4);
    assert_eq!(hotkeys(&latest.scores), hotkeys(&rows(4)));
}
register!(blocks_of_many_rows_are_walked_newest_first);
