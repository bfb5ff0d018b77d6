//! Storing a group of event batches in a handful of statements.
//!
//! The ingest path is the hottest write of the platform. A group is stored
//! in three steps: read everything the group needs (earlier requests,
//! holders of its identities, login IDs, existing profiles, suppressions)
//! with a few multi-row joins; resolve every batch in memory, in order,
//! exactly as one batch at a time would; then write the outcome with
//! multi-row statements.
//!
//! This module does no I/O. [`GroupIngest`] says which statements to run and
//! takes in the rows they return; a backend's driver runs them inside one
//! transaction (sqlx on PostgreSQL, SQLite's C API on the writer's own
//! thread: see `sqlite::ingest`). So the SQL and the resolution are written
//! once for both backends.
//!
//! Lookups join against a `VALUES` list rather than `IN (VALUES …)` on row
//! values, which SQLite would answer with a full scan.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use custos_core::identity::{self, Identity, IdentityType, Mpid, Owner, Resolution};

use crate::{IncomingBatch, IngestOutcome, StoreError, StoreResult};

/// `rows` groups of `width` placeholders: numbered, `($1,$2),($3,$4)`, or
/// anonymous, `(?,?),(?,?)`. SQLite binds anonymous ones in order, while a
/// numbered one costs a linear search of the statement's parameter names:
/// quadratic in a statement of hundreds of rows.
pub(crate) fn placeholders(rows: usize, width: usize, numbered: bool) -> String {
    let mut sql = String::with_capacity(rows * width * 5);
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push('(');
        for column in 0..width {
            if column > 0 {
                sql.push(',');
            }
            if numbered {
                sql.push('$');
                sql.push_str(&(row * width + column + 1).to_string());
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

/// Rows per multi-row statement, largest first. A fixed set of sizes keeps
/// the number of distinct statements small, so they stay prepared in the
/// connection's cache instead of being prepared again for every group.
const STATEMENT_ROWS: [usize; 5] = [256, 64, 16, 4, 1];

/// `items` cut into slices of the sizes in [`STATEMENT_ROWS`].
pub(crate) fn statement_chunks<T>(mut items: &[T]) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    for size in STATEMENT_ROWS {
        while items.len() >= size {
            let (chunk, rest) = items.split_at(size);
            chunks.push(chunk);
            items = rest;
        }
    }
    chunks
}

/// A value bound to a statement. NULLs carry their type, which PostgreSQL
/// needs to know.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param<'a> {
    Int(Option<i64>),
    Text(Option<Cow<'a, str>>),
    Blob(&'a [u8]),
}

impl From<i64> for Param<'_> {
    fn from(value: i64) -> Self {
        Param::Int(Some(value))
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(value: Option<i64>) -> Self {
        Param::Int(value)
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(value: &'a str) -> Self {
        Param::Text(Some(Cow::Borrowed(value)))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(value: Option<&'a str>) -> Self {
        Param::Text(value.map(Cow::Borrowed))
    }
}

impl From<String> for Param<'_> {
    fn from(value: String) -> Self {
        Param::Text(Some(Cow::Owned(value)))
    }
}

/// A value read from a row. Lookups read integers and text only.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Text(String),
}

impl Cell {
    fn int(&self) -> StoreResult<i64> {
        match self {
            Cell::Int(value) => Ok(*value),
            other => Err(unexpected(other, "an integer")),
        }
    }

    fn text(self) -> StoreResult<String> {
        match self {
            Cell::Text(value) => Ok(value),
            other => Err(unexpected(&other, "text")),
        }
    }
}

fn unexpected(cell: &Cell, wanted: &str) -> StoreError {
    let found = match cell {
        Cell::Null => "NULL",
        Cell::Int(_) => "an integer",
        Cell::Text(_) => "text",
    };
    StoreError::Io(std::io::Error::other(format!("ingest lookup: expected {wanted}, the database gave {found}")))
}

pub(crate) struct Statement<'a> {
    pub(crate) sql: String,
    pub(crate) params: Vec<Param<'a>>,
}

/// What a lookup's rows say.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lookup {
    /// `(input_id, source_request_id, mpid)` of batches already stored.
    StoredRequests,
    /// `(workspace_id, identity_type, value, mpid)`: who holds an identity.
    Holders,
    /// `(workspace_id, mpid)` of profiles that exist.
    Profiles,
    /// `(workspace_id, key)` of suppressed subjects.
    Suppressed,
    /// `(workspace_id, mpid, customer_id)`: the login ID of a profile.
    LoginIds,
    /// Whether the profile `(workspace_id, mpid)` exists: a row if it does, as for `Profiles`.
    Probe(i64, i64),
}

pub(crate) struct Query<'a> {
    pub(crate) lookup: Lookup,
    pub(crate) statement: Statement<'a>,
}

/// One step of a group's ingestion, for the driver to carry out.
pub(crate) enum Step<'a> {
    /// Run these and hand each one's rows to [`GroupIngest::absorb`].
    Read(Vec<Query<'a>>),
    /// Execute these, in order.
    Write(Vec<Statement<'a>>),
    /// Done: commit, and answer these, one per batch.
    Done(Vec<IngestOutcome>),
}

enum Stage {
    Start,
    LoginIds,
    Plan,
    Written(Vec<IngestOutcome>),
    Finished,
}

/// The ingestion of one group of batches, as a state machine a driver runs:
/// `loop { match ingest.next_step() { … } }`.
pub(crate) struct GroupIngest<'a> {
    batches: &'a [IncomingBatch],
    numbered: bool,
    facts: Facts,
    stage: Stage,
}

/// What the store holds that the group's resolution depends on.
#[derive(Default)]
struct Facts {
    stored_requests: HashMap<(i64, String), i64>,
    holders: HashMap<(i64, Identity), i64>,
    login_ids: HashMap<(i64, i64), String>,
    profiles: HashSet<(i64, i64)>,
    /// MPIDs outside the group's candidates, looked up and found free.
    free: HashSet<(i64, i64)>,
    suppressed: HashSet<(i64, String)>,
}

impl<'a> GroupIngest<'a> {
    /// `numbered`: the backend's placeholders are `$N` rather than `?`.
    pub(crate) fn new(batches: &'a [IncomingBatch], numbered: bool) -> GroupIngest<'a> {
        GroupIngest { batches, numbered, facts: Facts::default(), stage: Stage::Start }
    }

    pub(crate) fn next_step(&mut self) -> Step<'a> {
        match std::mem::replace(&mut self.stage, Stage::Finished) {
            Stage::Start => {
                self.stage = Stage::LoginIds;
                Step::Read(self.first_lookups())
            }
            Stage::LoginIds => {
                self.stage = Stage::Plan;
                Step::Read(self.login_id_lookups())
            }
            Stage::Plan => match plan(self.batches, &self.facts) {
                Planned::Done(plan, outcomes) => {
                    self.stage = Stage::Written(outcomes);
                    Step::Write(plan.statements(self.numbered))
                }
                Planned::Probe(ws, mpid) => {
                    self.stage = Stage::Plan;
                    Step::Read(self.joins(Lookup::Probe(ws, mpid), &[(ws, mpid)], PROFILES_JOIN, |&(ws, mpid)| {
                        vec![ws.into(), mpid.into()]
                    }))
                }
            },
            Stage::Written(outcomes) => Step::Done(outcomes),
            Stage::Finished => Step::Done(Vec::new()),
        }
    }

    /// Takes in the rows of a query of the last [`Step::Read`].
    pub(crate) fn absorb(&mut self, lookup: Lookup, rows: Vec<Vec<Cell>>) -> StoreResult<()> {
        let facts = &mut self.facts;
        if let Lookup::Probe(ws, mpid) = lookup {
            if rows.is_empty() {
                facts.free.insert((ws, mpid));
            } else {
                facts.profiles.insert((ws, mpid));
            }
            return Ok(());
        }
        for row in rows {
            let mut cells = row.into_iter();
            let mut next = || cells.next().unwrap_or(Cell::Null);
            match lookup {
                Lookup::StoredRequests => {
                    let (input_id, request_id, mpid) = (next().int()?, next().text()?, next().int()?);
                    facts.stored_requests.insert((input_id, request_id), mpid);
                }
                Lookup::Holders => {
                    let (ws, kind, value, mpid) = (next().int()?, next().text()?, next().text()?, next().int()?);
                    // A type this version does not know (written by a newer one) holds nothing here.
                    if let Ok(kind) = IdentityType::parse(&kind) {
                        facts.holders.insert((ws, Identity::new(kind, value)), mpid);
                    }
                }
                Lookup::Profiles => {
                    facts.profiles.insert((next().int()?, next().int()?));
                }
                Lookup::Suppressed => {
                    facts.suppressed.insert((next().int()?, next().text()?));
                }
                Lookup::LoginIds => {
                    let (ws, mpid, login_id) = (next().int()?, next().int()?, next().text()?);
                    facts.login_ids.insert((ws, mpid), login_id);
                }
                Lookup::Probe(..) => {}
            }
        }
        Ok(())
    }

    /// Lookups that depend on the batches alone.
    fn first_lookups(&self) -> Vec<Query<'a>> {
        let batches = self.batches;
        let mut queries = Vec::new();

        let requests: Vec<(i64, &str)> =
            batches.iter().filter_map(|b| b.source_request_id.as_deref().map(|s| (b.input_id, s))).collect();
        queries.extend(self.joins(
            Lookup::StoredRequests,
            &requests,
            "SELECT b.input_id, b.source_request_id, b.mpid FROM \
             (SELECT column1 AS i, column2 AS s FROM (VALUES {}) AS r) AS k \
             JOIN batches b ON b.input_id = k.i AND b.source_request_id = k.s",
            |(input_id, request_id)| vec![(*input_id).into(), (*request_id).into()],
        ));

        let identities: HashSet<(i64, &Identity)> =
            batches.iter().flat_map(|b| b.identities.iter().map(move |i| (b.workspace_id.0, i))).collect();
        let identities: Vec<(i64, &Identity)> = identities.into_iter().collect();
        queries.extend(self.joins(
            Lookup::Holders,
            &identities,
            "SELECT p.workspace_id, p.identity_type, p.value, p.mpid FROM \
             (SELECT column1 AS ws, column2 AS t, column3 AS v FROM (VALUES {}) AS r) AS k \
             JOIN profile_identities p ON p.workspace_id = k.ws AND p.identity_type = k.t AND p.value = k.v",
            |(ws, identity)| vec![(*ws).into(), identity.kind.as_str().into(), identity.value.as_str().into()],
        ));

        let candidates: Vec<(i64, i64)> = candidates(batches).into_iter().collect();
        queries.extend(
            self.joins(Lookup::Profiles, &candidates, PROFILES_JOIN, |(ws, mpid)| vec![(*ws).into(), (*mpid).into()]),
        );

        let keys: Vec<(i64, &str)> = batches
            .iter()
            .flat_map(|b| b.suppression_keys.iter().map(move |key| (b.workspace_id.0, key.as_str())))
            .collect();
        queries.extend(
            self.joins(Lookup::Suppressed, &keys, SUPPRESSED_JOIN, |(ws, key)| vec![(*ws).into(), (*key).into()]),
        );
        queries
    }

    /// The login IDs of every profile the group may resolve to.
    fn login_id_lookups(&self) -> Vec<Query<'a>> {
        let mut known: HashSet<(i64, i64)> = self.facts.holders.iter().map(|((ws, _), mpid)| (*ws, *mpid)).collect();
        known.extend(self.batches.iter().filter_map(|b| b.mpid.map(|m| (b.workspace_id.0, m.0))));
        let known: Vec<(i64, i64)> = known.into_iter().collect();
        let sql = format!(
            "SELECT p.workspace_id, p.mpid, p.value FROM \
             (SELECT column1 AS ws, column2 AS m FROM (VALUES {{}}) AS r) AS k \
             JOIN profile_identities p ON p.workspace_id = k.ws AND p.mpid = k.m AND p.identity_type = '{}'",
            IdentityType::CustomerId.as_str()
        );
        self.joins(Lookup::LoginIds, &known, &sql, |(ws, mpid)| vec![(*ws).into(), (*mpid).into()])
    }

    /// `template` (with `{}` where the `VALUES` rows go) over `keys`, in chunks.
    fn joins<K>(
        &self,
        lookup: Lookup,
        keys: &[K],
        template: &str,
        params: impl Fn(&K) -> Vec<Param<'a>>,
    ) -> Vec<Query<'a>> {
        statement_chunks(keys)
            .into_iter()
            .map(|chunk| {
                let bound: Vec<Param<'a>> = chunk.iter().flat_map(&params).collect();
                let rows = placeholders(chunk.len(), bound.len() / chunk.len(), self.numbered);
                Query { lookup, statement: Statement { sql: template.replacen("{}", &rows, 1), params: bound } }
            })
            .collect()
    }
}

/// Which of `(workspace_id, mpid)` rows are existing profiles.
const PROFILES_JOIN: &str =
    "SELECT p.workspace_id, p.mpid FROM (SELECT column1 AS ws, column2 AS m FROM (VALUES {}) AS r) AS k \
     JOIN profiles p ON p.workspace_id = k.ws AND p.mpid = k.m";

/// Which of `(workspace_id, key)` rows are suppressed subjects.
pub(crate) const SUPPRESSED_JOIN: &str =
    "SELECT s.workspace_id, s.key FROM (SELECT column1 AS ws, column2 AS k FROM (VALUES {}) AS r) AS v \
     JOIN dsr_suppressions s ON s.workspace_id = v.ws AND s.key = v.k";

/// The MPIDs the group may create profiles at, and those it names.
fn candidates(batches: &[IncomingBatch]) -> HashSet<(i64, i64)> {
    batches
        .iter()
        .flat_map(|b| {
            [Some(b.new_mpid.0), b.mpid.map(|m| m.0)].into_iter().flatten().map(move |m| (b.workspace_id.0, m))
        })
        .collect()
}

/// What a group changes, keyed so that the last change of a key wins, and
/// ordered by key, so that each multi-row statement walks its index in order.
#[derive(Default)]
struct GroupPlan<'a> {
    new_profiles: Vec<(i64, i64, i64)>,
    identities: BTreeMap<(i64, Identity), (i64, i64)>,
    attributes: BTreeMap<(i64, i64, &'a str), AttributeChange<'a>>,
    consent: BTreeMap<(i64, i64, &'a str, &'a str), &'a str>,
    touched: BTreeMap<(i64, i64), (i64, Option<i64>)>,
    batches: Vec<(&'a IncomingBatch, i64)>,
}

/// An attribute's new value (JSON) and time, or `None` for a deletion.
type AttributeChange<'a> = Option<(&'a str, i64)>;

enum Planned<'a> {
    Done(GroupPlan<'a>, Vec<IngestOutcome>),
    /// Whether this profile exists must be looked up first.
    Probe(i64, i64),
}

/// Resolves each batch in order, in memory. Pure: the facts are not changed,
/// so after a [`Planned::Probe`] the group is planned again from the start.
fn plan<'a>(batches: &'a [IncomingBatch], facts: &Facts) -> Planned<'a> {
    let mut stored_requests = facts.stored_requests.clone();
    let mut holders = facts.holders.clone();
    let mut login_ids = facts.login_ids.clone();
    let mut profiles = facts.profiles.clone();
    let candidates = candidates(batches);
    let mut plan = GroupPlan::default();
    let mut outcomes = Vec::with_capacity(batches.len());
    for batch in batches {
        let ws = batch.workspace_id.0;
        let request_key = batch.source_request_id.as_ref().map(|s| (batch.input_id, s.clone()));
        if let Some(mpid) = request_key.as_ref().and_then(|key| stored_requests.get(key)) {
            outcomes.push(IngestOutcome { mpid: Mpid(*mpid), duplicate: true, suppressed: false });
            continue;
        }
        if batch.suppression_keys.iter().any(|key| facts.suppressed.contains(&(ws, key.clone()))) {
            outcomes.push(IngestOutcome { mpid: Mpid(0), duplicate: false, suppressed: true });
            continue;
        }
        let owner = |mpid: i64| Owner { mpid: Mpid(mpid), login_id: login_ids.get(&(ws, mpid)).cloned() };
        let own = batch.mpid.filter(|m| profiles.contains(&(ws, m.0))).map(|m| owner(m.0));
        let resolution = identity::resolve_batch(own, &batch.identities, &|identity: &Identity| {
            holders.get(&(ws, identity.clone())).map(|mpid| owner(*mpid))
        });
        let ts = batch.received_at_ms;
        let (existing, attach) = match resolution {
            Resolution::Existing { mpid, attach, .. } => (Some(mpid.0), attach),
            Resolution::Create { attach, .. } => (None, attach),
            Resolution::NotFound => (None, Vec::new()),
        };
        let mpid = match existing {
            Some(mpid) => mpid,
            None => {
                // The candidate, or the next free MPID of a fixed sequence
                // derived from it. Candidates were all looked up; another
                // MPID of the sequence must be before it can be taken.
                let mut mpid = batch.new_mpid.0;
                loop {
                    let taken = mpid == 0 || profiles.contains(&(ws, mpid));
                    if !taken && !candidates.contains(&(ws, mpid)) && !facts.free.contains(&(ws, mpid)) {
                        return Planned::Probe(ws, mpid);
                    }
                    if !taken {
                        break;
                    }
                    mpid = mpid.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                }
                profiles.insert((ws, mpid));
                plan.new_profiles.push((ws, mpid, ts));
                mpid
            }
        };
        for identity in attach {
            if identity.kind.is_login_id() {
                login_ids.insert((ws, mpid), identity.value.clone());
            }
            holders.insert((ws, identity.clone()), mpid);
            plan.identities.insert((ws, identity), (mpid, ts));
        }
        for (name, value) in &batch.attributes {
            plan.attributes.insert((ws, mpid, name), Some((value, ts)));
        }
        for name in &batch.deleted_attributes {
            plan.attributes.insert((ws, mpid, name), None);
        }
        for consent in &batch.consent {
            plan.consent.insert((ws, mpid, &consent.regulation, &consent.purpose), &consent.state_json);
        }
        let touched = plan.touched.entry((ws, mpid)).or_insert((ts, None));
        touched.0 = touched.0.max(ts);
        if let Some(opted_out) = batch.opted_out {
            touched.1 = Some(i64::from(opted_out));
        }
        plan.batches.push((batch, mpid));
        if let Some(key) = request_key {
            stored_requests.insert(key, mpid);
        }
        outcomes.push(IngestOutcome { mpid: Mpid(mpid), duplicate: false, suppressed: false });
    }
    Planned::Done(plan, outcomes)
}

impl<'a> GroupPlan<'a> {
    /// The writes, in order: profiles before what refers to them, batches last.
    fn statements(self, numbered: bool) -> Vec<Statement<'a>> {
        let mut out = Vec::new();
        insert_rows(
            &mut out,
            numbered,
            "INSERT INTO profiles (workspace_id, mpid, created_at_ms, updated_at_ms)",
            "",
            self.new_profiles
                .iter()
                .map(|&(ws, mpid, ts)| vec![ws.into(), mpid.into(), ts.into(), ts.into()])
                .collect(),
        );
        insert_rows(
            &mut out,
            numbered,
            "INSERT INTO profile_identities (workspace_id, identity_type, value, mpid, created_at_ms)",
            "ON CONFLICT (workspace_id, identity_type, value) DO UPDATE SET mpid = excluded.mpid \
             WHERE profile_identities.mpid IS DISTINCT FROM excluded.mpid",
            self.identities
                .into_iter()
                .map(|((ws, identity), (mpid, ts))| {
                    vec![ws.into(), identity.kind.as_str().into(), identity.value.into(), mpid.into(), ts.into()]
                })
                .collect(),
        );
        insert_rows(
            &mut out,
            numbered,
            "INSERT INTO profile_attributes (workspace_id, mpid, name, value_json, updated_at_ms)",
            "ON CONFLICT (workspace_id, mpid, name) DO UPDATE \
             SET value_json = excluded.value_json, updated_at_ms = excluded.updated_at_ms \
             WHERE profile_attributes.value_json IS DISTINCT FROM excluded.value_json",
            self.attributes
                .iter()
                .filter_map(|(&(ws, mpid, name), value)| {
                    value.map(|(json, ts)| vec![ws.into(), mpid.into(), name.into(), json.into(), ts.into()])
                })
                .collect(),
        );
        // Deletions are rare: one statement each.
        for (&(ws, mpid, name), _) in self.attributes.iter().filter(|(_, value)| value.is_none()) {
            let sql = if numbered {
                "DELETE FROM profile_attributes WHERE workspace_id = $1 AND mpid = $2 AND name = $3"
            } else {
                "DELETE FROM profile_attributes WHERE workspace_id = ? AND mpid = ? AND name = ?"
            };
            out.push(Statement { sql: sql.to_owned(), params: vec![ws.into(), mpid.into(), name.into()] });
        }
        insert_rows(
            &mut out,
            numbered,
            "INSERT INTO profile_consent (workspace_id, mpid, regulation, purpose, state_json)",
            "ON CONFLICT (workspace_id, mpid, regulation, purpose) DO UPDATE SET state_json = excluded.state_json \
             WHERE profile_consent.state_json IS DISTINCT FROM excluded.state_json",
            self.consent
                .iter()
                .map(|(&(ws, mpid, regulation, purpose), &state)| {
                    vec![ws.into(), mpid.into(), regulation.into(), purpose.into(), state.into()]
                })
                .collect(),
        );
        let touched: Vec<_> = self.touched.into_iter().collect();
        for chunk in statement_chunks(&touched) {
            let sql = format!(
                "UPDATE profiles SET updated_at_ms = v.ts, opted_out = COALESCE(v.opted, profiles.opted_out) \
                 FROM (SELECT column1 AS ws, column2 AS m, column3 AS ts, column4 AS opted FROM (VALUES {}) AS r) AS v \
                 WHERE profiles.workspace_id = v.ws AND profiles.mpid = v.m",
                placeholders(chunk.len(), 4, numbered)
            );
            let params = chunk
                .iter()
                .flat_map(|&((ws, mpid), (ts, opted))| [ws.into(), mpid.into(), ts.into(), opted.into()])
                .collect();
            out.push(Statement { sql, params });
        }
        insert_rows(
            &mut out,
            numbered,
            "INSERT INTO batches (workspace_id, input_id, mpid, source_request_id, received_at_ms, event_count, body)",
            "",
            self.batches
                .iter()
                .map(|&(batch, mpid)| {
                    vec![
                        batch.workspace_id.0.into(),
                        batch.input_id.into(),
                        mpid.into(),
                        batch.source_request_id.as_deref().into(),
                        batch.received_at_ms.into(),
                        batch.event_count.into(),
                        Param::Blob(batch.body.stored()),
                    ]
                })
                .collect(),
        );
        out
    }
}

/// `head VALUES (…),(…) tail` statements for `rows` (all of one width), in chunks.
fn insert_rows<'a>(out: &mut Vec<Statement<'a>>, numbered: bool, head: &str, tail: &str, rows: Vec<Vec<Param<'a>>>) {
    let Some(width) = rows.first().map(Vec::len) else { return };
    for chunk in statement_chunks(&rows) {
        let sql = format!("{head} VALUES {} {tail}", placeholders(chunk.len(), width, numbered));
        out.push(Statement { sql, params: chunk.iter().flatten().cloned().collect() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_and_columns() {
        assert_eq!(placeholders(2, 3, true), "($1,$2,$3),($4,$5,$6)");
        assert_eq!(placeholders(1, 1, true), "($1)");
        assert_eq!(placeholders(2, 2, false), "(?,?),(?,?)");
    }

    #[test]
    fn statement_chunks_cover_everything_in_fixed_sizes() {
        let items: Vec<u32> = (0..343).collect();
        let sizes: Vec<usize> = statement_chunks(&items).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [256, 64, 16, 4, 1, 1, 1]);
        assert_eq!(statement_chunks(&items).concat(), items);
    }
}
