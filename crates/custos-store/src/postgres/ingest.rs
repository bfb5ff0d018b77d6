//! The ingest path on PostgreSQL: [`GroupIngest`]'s statements, through sqlx.

use sqlx::postgres::{PgArguments, PgPool, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row};

use crate::backend::Backend;
use crate::group_ingest::{Cell, GroupIngest, Param, Step};
use crate::{IncomingBatch, IngestOutcome, StoreResult};

/// Stores a group of batches in one transaction, running the statements
/// [`GroupIngest`] asks for.
pub(super) async fn store_group(pool: &PgPool, batches: &[IncomingBatch]) -> StoreResult<Vec<IngestOutcome>> {
    let mut tx = pool.begin().await?;
    let mut ingest = GroupIngest::new(batches, <super::PostgresStore as Backend>::NUMBERED_PLACEHOLDERS);
    loop {
        match ingest.next_step() {
            Step::Read(queries) => {
                for query in queries {
                    let rows = bind(query.statement.sql, &query.statement.params).fetch_all(&mut *tx).await?;
                    ingest.absorb(query.lookup, rows.iter().map(cells).collect::<StoreResult<_>>()?)?;
                }
            }
            Step::Write(statements) => {
                for statement in statements {
                    bind(statement.sql, &statement.params).execute(&mut *tx).await?;
                }
            }
            Step::Done(outcomes) => {
                tx.commit().await?;
                return Ok(outcomes);
            }
        }
    }
}

fn bind<'q>(sql: &'q str, params: &'q [Param<'_>]) -> Query<'q, Postgres, PgArguments> {
    params.iter().fold(sqlx::query(sql), |query, param| match param {
        Param::Int(value) => query.bind(*value),
        Param::Text(value) => query.bind(value.as_deref()),
        Param::Blob(value) => query.bind(*value),
    })
}

/// A lookup's row: its columns are BIGINT or TEXT.
fn cells(row: &PgRow) -> StoreResult<Vec<Cell>> {
    (0..row.len())
        .map(|i| {
            Ok(match row.try_get::<Option<i64>, _>(i) {
                Ok(value) => value.map_or(Cell::Null, Cell::Int),
                Err(_) => row.try_get::<Option<String>, _>(i)?.map_or(Cell::Null, Cell::Text),
            })
        })
        .collect()
}
