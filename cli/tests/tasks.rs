//! The task queue from the shell (issue 12), on a SQLite file and on the
//! DynamoDB emulator: `task create|claim|start|complete|fail|delete|requeue`
//! with the library's semantics, JSON on stdout, and one line with exit 1
//! on a lost claim, a missing task or a stale one.

mod common;

use affine_db::schema::Table;
use affine_db::MinerInfo;
use common::Target;
use serde_json::{json, Value};

fn create(t: &Target, miner: &str, hash: &str, priority: &str) -> Value {
    t.json(&[
        "task",
        "create",
        "--miner",
        miner,
        "--revision",
        "rev",
        "--model-hash",
        hash,
        "--env",
        "SAT",
        "--priority",
        priority,
        "--ttl-days",
        "2",
    ])
}

fn key<'a>(miner: &'a str, id: &'a str) -> [&'a str; 6] {
    ["--miner", miner, "--revision", "rev", "--task-id", id]
}

fn with<'a>(action: &'a str, k: [&'a str; 6]) -> Vec<&'a str> {
    let mut v = vec!["task", action];
    v.extend(k);
    v
}

#[test]
fn a_task_goes_through_its_life_from_the_shell() {
    for t in Target::both_ready() {
        let task = create(&t, "hk", "h1", "5");
        let id = task["task_id"].as_str().expect("task_id").to_string();
        assert_eq!(task["status"], json!("pending"));
        assert_eq!(task["priority"], json!(5));
        assert_eq!(
            task["ttl"].as_i64(),
            Some(task["created_at"].as_i64().unwrap() + 2 * 86_400)
        );
        let listed = t.json(&["tasks", "--miner", "hk", "--revision", "rev"]);
        assert_eq!(listed.as_array().map(Vec::len), Some(1));
        assert_eq!(t.json(&["pending-tasks"])[0]["task_id"], json!(id));

        // Claim: pending -> running; a second claim loses.
        let running = t.json(&with("claim", key("hk", &id)));
        assert_eq!(running["status"], json!("running"));
        assert!(running["started_at"].is_i64());
        let line = t.fails(1, &with("claim", key("hk", &id)));
        assert!(line.contains("condition failed"), "{line}");
        t.fails(1, &with("start", key("hk", &id)));

        // Fail records the error; a failed task cannot be started.
        let failed = t.json(&[
            "task",
            "fail",
            "--miner",
            "hk",
            "--revision",
            "rev",
            "--task-id",
            &id,
            "--error",
            "-boom: timeout",
        ]);
        assert_eq!(failed["status"], json!("failed"));
        assert_eq!(failed["error_count"], json!(1));
        assert_eq!(failed["last_error"], json!("-boom: timeout"));
        t.fails(1, &with("start", key("hk", &id)));

        // Complete deletes; again is NotFound.
        assert_eq!(
            t.json(&with("complete", key("hk", &id))),
            json!({"task_id": id, "completed": true})
        );
        t.fails(1, &with("complete", key("hk", &id)));
        let mut fail = with("fail", key("hk", &id));
        fail.extend(["--error", "late"]);
        t.fails(1, &fail);
        assert_eq!(
            t.json(&["tasks", "--miner", "hk", "--revision", "rev"]),
            json!([])
        );

        // Bare start claims without the model check; delete removes any status.
        let other = create(&t, "hk", "h1", "0");
        let oid = other["task_id"].as_str().unwrap().to_string();
        assert_eq!(
            t.json(&with("start", key("hk", &oid)))["status"],
            json!("running")
        );
        assert_eq!(
            t.json(&with("delete", key("hk", &oid))),
            json!({"task_id": oid, "deleted": true})
        );
        t.fails(1, &with("delete", key("hk", &oid)));

        // Unknown ids and bad key parts.
        t.fails(1, &with("claim", key("hk", "0000000000000001-none")));
        t.fails(2, &with("claim", key("a#b", "x")));
        let out = t.run(&["task", "create", "--miner", "hk"]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "missing arguments are usage errors"
        );
    }
}

#[test]
fn claim_checks_the_miners_current_model() {
    for t in Target::both_ready() {
        // The miner now serves model h2.
        let meta = MinerInfo {
            miner_hotkey: "hk".into(),
            current_revision: "rev".into(),
            model_hash: "h2".into(),
            ..Default::default()
        }
        .merge(None, 1)
        .expect("valid miner");
        t.put_raw(vec![(Table::MinerMetadata, meta.to_item())]);
        let stale = create(&t, "hk", "h1", "0");
        let sid = stale["task_id"].as_str().unwrap().to_string();
        let fresh = create(&t, "hk", "h2", "0");
        let fid = fresh["task_id"].as_str().unwrap().to_string();

        let line = t.fails(1, &with("claim", key("hk", &sid)));
        assert!(line.contains("stale"), "{line}");
        let left: Vec<String> = t
            .json(&["tasks", "--miner", "hk", "--revision", "rev"])
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["task_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            left,
            std::slice::from_ref(&fid),
            "the stale task was removed"
        );
        assert_eq!(
            t.json(&with("claim", key("hk", &fid)))["status"],
            json!("running")
        );

        // `start` is the bare claim: no model check.
        let old = create(&t, "hk", "h1", "0");
        let oid = old["task_id"].as_str().unwrap().to_string();
        assert_eq!(
            t.json(&with("start", key("hk", &oid)))["status"],
            json!("running")
        );
    }
}

#[test]
fn requeue_puts_long_running_tasks_back() {
    for t in Target::both_ready() {
        let task = create(&t, "hk", "h", "0");
        let id = task["task_id"].as_str().unwrap().to_string();
        t.json(&with("claim", key("hk", &id)));
        // Not yet running for an hour.
        assert_eq!(
            t.json(&["task", "requeue", "--timeout-s", "3600"]),
            json!({"requeued": 0})
        );
        // Running at least 0 s: requeued.
        assert_eq!(
            t.json(&["task", "requeue", "--timeout-s", "0"]),
            json!({"requeued": 1})
        );
        let back = &t.json(&["tasks", "--miner", "hk", "--revision", "rev"])[0];
        assert_eq!(back["status"], json!("pending"));
        assert_eq!(back["started_at"], Value::Null);
        t.fails(2, &["task", "requeue", "--timeout-s", "-1"]);
    }
}
