//! The shared conformance suite against DynamoDB (moto, or dynalite), twice:
//! on the backend's own table implementations (`DynamoBackend`) and on the
//! core-owned table handles over the storage driver (`DynamoDriver`).

mod common;

/// The suite on the core's handles over [`DynamoDriver`]: a fresh random
/// prefix, tables created.
mod driver {
    use std::sync::Arc;

    use affine_db_core::conformance::Harness;
    use affine_db_core::Store;
    use affine_db_dynamodb::DynamoDriver;

    use super::common;

    pub(super) async fn harness() -> Harness {
        let clock = Harness::new_clock();
        let prefix = common::prefix();
        let driver = DynamoDriver::connect(common::config(&prefix, &common::endpoint()))
            .await
            .expect("connect the DynamoDB driver");
        let store = Store::from_driver(Arc::new(driver), clock.clone());
        store.admin.init().await.expect("create the tables");
        Harness { store, clock }
    }
}

affine_db_core::conformance_main!("" => common::harness, "driver::" => driver::harness);
