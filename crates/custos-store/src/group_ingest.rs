//! Storing a group of event batches in a handful of statements.
//!
//! The ingest path is the hottest write of the platform. A group is stored
//! in three steps: read everything the group needs (earlier requests,
//! holders of its identities, the login IDs, attributes and consent of the
//! profiles they reach, suppressions) with a few multi-row joins; resolve
//! every batch in memory, in order, exactly as one batch at a time would;
//! then write what changed with multi-row statements. A batch from a known
//! user that repeats what its profile holds writes the batch and nothing
//! else.
//!
//! This module does no I/O. [`GroupIngest`] says which statements to run and
//! takes in the rows they return; a backend's driver runs them inside one
//! transaction (sqlx on PostgreSQL, rusqlite on SQLite: see
//! `sqlite::ingest`). So the SQL and the resolution are written once for
//! both backends.
//!
//! Lookups join against a `VALUES` list rather than `IN (VALUES …)` on row
//! values, which SQLite would answer with a full scan. A lookup is one
//! statement of a few fixed sizes, its last rows NULLs that match nothing,
//! rather than several: each statement has a fixed cost of its own.

use std::borrow::{Borrow, Cow};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Mutex, OnceLock};

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

/// `template` with its `{}` replaced by `rows` rows of `width`
/// placeholders. Built once per process: the statements of the ingest path
/// come in a few fixed shapes, and building their text for every group
/// cost more than running some of them.
fn expand(template: &'static str, rows: usize, width: usize, numbered: bool) -> &'static str {
    type Shapes = HashMap<(&'static str, usize, usize, bool), &'static str>;
    static SHAPES: OnceLock<Mutex<Shapes>> = OnceLock::new();
    let mut shapes = SHAPES.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    shapes.entry((template, rows, width, numbered)).or_insert_with(|| {
        // Bounded: a dozen templates, five sizes each.
        String::leak(template.replacen("{}", &placeholders(rows, width, numbered), 1))
    })
}

/// Rows per multi-row statement, largest first. A fixed set of sizes keeps
/// the number of distinct statements small, so they stay prepared in the
/// connection's cache instead of being prepared again for every group.
const STATEMENT_ROWS: [usize; 5] = [256, 64, 16, 4, 1];

/// `rows` cut into statements of the sizes in [`STATEMENT_ROWS`], largest first.
fn chunk_sizes(mut rows: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    for size in STATEMENT_ROWS {
        while rows >= size {
            sizes.push(size);
            rows -= size;
        }
    }
    sizes
}

/// `items` cut into slices of the sizes in [`STATEMENT_ROWS`].
pub(crate) fn statement_chunks<T>(mut items: &[T]) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    for size in chunk_sizes(items.len()) {
        let (chunk, rest) = items.split_at(size);
        chunks.push(chunk);
        items = rest;
    }
    chunks
}

/// The statement sizes a lookup of `keys` keys runs as: full statements of
/// the largest size, then the smallest size that holds the rest.
fn lookup_sizes(mut keys: usize) -> Vec<(usize, usize)> {
    let largest = STATEMENT_ROWS[0];
    let mut sizes = Vec::new();
    while keys >= largest {
        sizes.push((largest, largest));
        keys -= largest;
    }
    if keys > 0 {
        let size = STATEMENT_ROWS.iter().rev().copied().find(|&size| size >= keys).unwrap_or(largest);
        sizes.push((keys, size));
    }
    sizes
}

/// A value bound to a statement. NULLs carry their type, which PostgreSQL
/// needs to know.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param<'a> {
    Int(Option<i64>),
    Text(Option<Cow<'a, str>>),
    Blob(&'a [u8]),
}

impl Param<'_> {
    /// A NULL of this value's type.
    fn null(&self) -> Param<'static> {
        match self {
            Param::Int(_) => Param::Int(None),
            Param::Text(_) | Param::Blob(_) => Param::Text(None),
        }
    }
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
    pub(crate) sql: &'static str,
    pub(crate) params: Vec<Param<'a>>,
}

/// What a lookup's rows say.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lookup {
    /// `(input_id, source_request_id, mpid)` of batches already stored.
    StoredRequests,
    /// `(workspace_id, identity_type, value, mpid)`: who holds an identity.
    Holders,
    /// `(workspace_id, mpid)` of profiles that exist, among those asked.
    Profiles,
    /// `(workspace_id)` of workspaces with suppressed subjects.
    Suppressing,
    /// `(workspace_id, key)` of suppressed subjects.
    Suppressed,
    /// `(workspace_id, mpid, customer_id)`: the login ID of a profile.
    LoginIds,
    /// `(workspace_id, mpid, name, value_json)` of known profiles.
    Attributes,
    /// `(workspace_id, mpid, regulation, purpose, state_json)` of known profiles.
    Consent,
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
    Known,
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
    /// MPIDs the last [`Step::Read`] asked about with [`Lookup::Profiles`].
    probed: Vec<(i64, i64)>,
    stage: Stage,
}

/// Values keyed within a workspace (or an input), so that a key is looked
/// up by reference.
struct Scoped<K, V>(HashMap<i64, HashMap<K, V>>);

impl<K, V> Default for Scoped<K, V> {
    fn default() -> Self {
        Scoped(HashMap::new())
    }
}

impl<K: Hash + Eq, V> Scoped<K, V> {
    fn get<Q: Hash + Eq + ?Sized>(&self, scope: i64, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.0.get(&scope)?.get(key)
    }

    fn insert(&mut self, scope: i64, key: K, value: V) {
        self.0.entry(scope).or_default().insert(key, value);
    }

    fn pairs(&self) -> impl Iterator<Item = (i64, &V)> {
        self.0.iter().flat_map(|(scope, values)| values.values().map(move |value| (*scope, value)))
    }
}

/// What the store holds that the group's resolution depends on.
#[derive(Default)]
struct Facts {
    /// By input: the MPID of each `source_request_id` already stored.
    stored_requests: Scoped<String, i64>,
    /// By workspace: who holds each identity.
    holders: Scoped<Identity, i64>,
    login_ids: HashMap<(i64, i64), String>,
    profiles: HashSet<(i64, i64)>,
    /// MPIDs looked up and found free.
    free: HashSet<(i64, i64)>,
    suppressing: HashSet<i64>,
    /// By workspace: keys of suppressed subjects among the group's.
    suppressed: Scoped<String, ()>,
    /// Profiles whose attributes and consent were read, and what they hold.
    known: HashSet<(i64, i64)>,
    attributes: HashMap<(i64, i64), HashMap<String, String>>,
    consent: HashMap<(i64, i64), Vec<StoredConsent>>,
}

/// `(regulation, purpose, state_json)`: a profile has a few.
type StoredConsent = (String, String, String);

impl<'a> GroupIngest<'a> {
    /// `numbered`: the backend's placeholders are `$N` rather than `?`.
    pub(crate) fn new(batches: &'a [IncomingBatch], numbered: bool) -> GroupIngest<'a> {
        GroupIngest { batches, numbered, facts: Facts::default(), probed: Vec::new(), stage: Stage::Start }
    }

    pub(crate) fn next_step(&mut self) -> Step<'a> {
        match std::mem::replace(&mut self.stage, Stage::Finished) {
            Stage::Start => {
                self.stage = Stage::Known;
                Step::Read(self.first_lookups())
            }
            Stage::Known => {
                self.stage = Stage::Plan;
                Step::Read(self.known_profile_lookups())
            }
            Stage::Plan => {
                // What the last probe asked about and did not find is free.
                for key in self.probed.drain(..) {
                    if !self.facts.profiles.contains(&key) {
                        self.facts.free.insert(key);
                    }
                }
                match plan(self.batches, &self.facts) {
                    Planned::Done(plan, outcomes) => {
                        self.stage = Stage::Written(outcomes);
                        Step::Write(plan.statements(&self.facts, self.numbered))
                    }
                    Planned::Probe(mpids) => {
                        self.stage = Stage::Plan;
                        let queries = self.lookup(Lookup::Profiles, &mpids, PROFILES_JOIN, |&(ws, mpid)| {
                            vec![ws.into(), mpid.into()]
                        });
                        self.probed = mpids;
                        Step::Read(queries)
                    }
                }
            }
            Stage::Written(outcomes) => Step::Done(outcomes),
            Stage::Finished => Step::Done(Vec::new()),
        }
    }

    /// Takes in the rows of a query of the last [`Step::Read`].
    pub(crate) fn absorb(&mut self, lookup: Lookup, rows: Vec<Vec<Cell>>) -> StoreResult<()> {
        let facts = &mut self.facts;
        for row in rows {
            let mut cells = row.into_iter();
            let mut next = || cells.next().unwrap_or(Cell::Null);
            match lookup {
                Lookup::StoredRequests => {
                    let (input_id, request_id, mpid) = (next().int()?, next().text()?, next().int()?);
                    facts.stored_requests.insert(input_id, request_id, mpid);
                }
                Lookup::Holders => {
                    let (ws, kind, value, mpid) = (next().int()?, next().text()?, next().text()?, next().int()?);
                    // A type this version does not know (written by a newer one) holds nothing here.
                    if let Ok(kind) = IdentityType::parse(&kind) {
                        facts.holders.insert(ws, Identity::new(kind, value), mpid);
                    }
                }
                Lookup::Profiles => {
                    facts.profiles.insert((next().int()?, next().int()?));
                }
                Lookup::Suppressing => {
                    facts.suppressing.insert(next().int()?);
                }
                Lookup::Suppressed => {
                    let (ws, key) = (next().int()?, next().text()?);
                    facts.suppressed.insert(ws, key, ());
                }
                Lookup::LoginIds => {
                    let (ws, mpid, login_id) = (next().int()?, next().int()?, next().text()?);
                    facts.login_ids.insert((ws, mpid), login_id);
                }
                Lookup::Attributes => {
                    let (ws, mpid, name, value) = (next().int()?, next().int()?, next().text()?, next().text()?);
                    facts.attributes.entry((ws, mpid)).or_default().insert(name, value);
                }
                Lookup::Consent => {
                    let (ws, mpid) = (next().int()?, next().int()?);
                    let (regulation, purpose, state) = (next().text()?, next().text()?, next().text()?);
                    facts.consent.entry((ws, mpid)).or_default().push((regulation, purpose, state));
                }
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
        queries.extend(self.lookup(
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
        queries.extend(self.lookup(
            Lookup::Holders,
            &identities,
            "SELECT p.workspace_id, p.identity_type, p.value, p.mpid FROM \
             (SELECT column1 AS ws, column2 AS t, column3 AS v FROM (VALUES {}) AS r) AS k \
             JOIN profile_identities p ON p.workspace_id = k.ws AND p.identity_type = k.t AND p.value = k.v",
            |(ws, identity)| vec![(*ws).into(), identity.kind.as_str().into(), identity.value.as_str().into()],
        ));

        // The MPIDs batches name; those the group may create profiles at are
        // looked up once the group is planned, and only if it creates any.
        let named: HashSet<(i64, i64)> =
            batches.iter().filter_map(|b| b.mpid.map(|m| (b.workspace_id.0, m.0))).collect();
        let named: Vec<(i64, i64)> = named.into_iter().collect();
        queries.extend(
            self.lookup(Lookup::Profiles, &named, PROFILES_JOIN, |(ws, mpid)| vec![(*ws).into(), (*mpid).into()]),
        );

        // Suppressions are rare: look for them key by key only in a
        // workspace that has any.
        let workspaces: HashSet<i64> = batches.iter().map(|b| b.workspace_id.0).collect();
        let workspaces: Vec<i64> = workspaces.into_iter().collect();
        queries.extend(self.lookup(
            Lookup::Suppressing,
            &workspaces,
            "SELECT k.ws FROM (SELECT column1 AS ws FROM (VALUES {}) AS r) AS k \
             WHERE EXISTS (SELECT 1 FROM dsr_suppressions s WHERE s.workspace_id = k.ws)",
            |ws| vec![(*ws).into()],
        ));
        queries
    }

    /// What the profiles the group may resolve to hold: their login IDs,
    /// attributes and consent; and the suppressions the group names.
    fn known_profile_lookups(&mut self) -> Vec<Query<'a>> {
        let mut known: HashSet<(i64, i64)> = self.facts.holders.pairs().map(|(ws, mpid)| (ws, *mpid)).collect();
        known.extend(self.facts.profiles.iter().copied());
        self.facts.known = known;
        let facts = &self.facts;
        let known: Vec<(i64, i64)> = facts.known.iter().copied().collect();
        let by_profile = |(ws, mpid): &(i64, i64)| vec![(*ws).into(), (*mpid).into()];
        let mut queries = self.lookup(Lookup::LoginIds, &known, login_ids_join(), by_profile);
        queries.extend(self.lookup(
            Lookup::Attributes,
            &known,
            "SELECT p.workspace_id, p.mpid, p.name, p.value_json FROM \
             (SELECT column1 AS ws, column2 AS m FROM (VALUES {}) AS r) AS k \
             JOIN profile_attributes p ON p.workspace_id = k.ws AND p.mpid = k.m",
            by_profile,
        ));
        queries.extend(self.lookup(
            Lookup::Consent,
            &known,
            "SELECT p.workspace_id, p.mpid, p.regulation, p.purpose, p.state_json FROM \
             (SELECT column1 AS ws, column2 AS m FROM (VALUES {}) AS r) AS k \
             JOIN profile_consent p ON p.workspace_id = k.ws AND p.mpid = k.m",
            by_profile,
        ));

        let keys: Vec<(i64, &str)> = self
            .batches
            .iter()
            .filter(|b| facts.suppressing.contains(&b.workspace_id.0))
            .flat_map(|b| b.suppression_keys.iter().map(move |key| (b.workspace_id.0, key.as_str())))
            .collect();
        queries.extend(
            self.lookup(Lookup::Suppressed, &keys, SUPPRESSED_JOIN, |(ws, key)| vec![(*ws).into(), (*key).into()]),
        );
        queries
    }

    /// `template` (with `{}` where the `VALUES` rows go) over `keys`, in
    /// statements of [`lookup_sizes`], the last padded with NULL rows.
    fn lookup<K>(
        &self,
        lookup: Lookup,
        keys: &[K],
        template: &'static str,
        params: impl Fn(&K) -> Vec<Param<'a>>,
    ) -> Vec<Query<'a>> {
        let mut keys = keys.iter();
        lookup_sizes(keys.len())
            .into_iter()
            .map(|(filled, size)| {
                let mut bound: Vec<Param<'a>> = keys.by_ref().take(filled).flat_map(&params).collect();
                let width = bound.len() / filled;
                let nulls: Vec<Param<'static>> = bound[..width].iter().map(Param::null).collect();
                for _ in filled..size {
                    bound.extend(nulls.iter().cloned());
                }
                let sql = expand(template, size, width, self.numbered);
                Query { lookup, statement: Statement { sql, params: bound } }
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

/// The login IDs of `(workspace_id, mpid)` rows.
fn login_ids_join() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        format!(
            "SELECT p.workspace_id, p.mpid, p.value FROM \
             (SELECT column1 AS ws, column2 AS m FROM (VALUES {{}}) AS r) AS k \
             JOIN profile_identities p ON p.workspace_id = k.ws AND p.mpid = k.m AND p.identity_type = '{}'",
            IdentityType::CustomerId.as_str()
        )
    })
}

/// What a group changes, keyed so that the last change of a key wins, and
/// ordered by key, so that each multi-row statement walks its index in order.
#[derive(Default)]
struct GroupPlan<'a> {
    new_profiles: Vec<(i64, i64, i64)>,
    identities: BTreeMap<(i64, Identity), (i64, i64)>,
    attributes: BTreeMap<(i64, i64, &'a str), AttributeChange<'a>>,
    consent: BTreeMap<(i64, i64, &'a str, &'a str), &'a str>,
    /// Profiles whose opt-out a batch sets: when, and to what.
    opt_outs: BTreeMap<(i64, i64), (i64, i64)>,
    batches: Vec<(&'a IncomingBatch, i64)>,
}

/// An attribute's new value (JSON) and time, or `None` for a deletion.
type AttributeChange<'a> = Option<(&'a str, i64)>;

enum Planned<'a> {
    Done(GroupPlan<'a>, Vec<IngestOutcome>),
    /// Whether these MPIDs are taken must be looked up before new profiles get them.
    Probe(Vec<(i64, i64)>),
}

/// Resolves each batch in order, in memory. Pure: the facts are not changed,
/// so after a [`Planned::Probe`] the group is planned again from the start.
fn plan<'a>(batches: &'a [IncomingBatch], facts: &Facts) -> Planned<'a> {
    // What the group itself changes, looked at before the facts.
    let mut requests: HashMap<(i64, &str), i64> = HashMap::new();
    let mut holders: Scoped<Identity, i64> = Scoped::default();
    let mut login_ids: HashMap<(i64, i64), String> = HashMap::new();
    let mut profiles = facts.profiles.clone();
    let mut unverified = Vec::new();
    let mut plan = GroupPlan::default();
    let mut outcomes = Vec::with_capacity(batches.len());
    for batch in batches {
        let ws = batch.workspace_id.0;
        let request_id = batch.source_request_id.as_deref();
        let stored = request_id.and_then(|id| {
            requests.get(&(batch.input_id, id)).or_else(|| facts.stored_requests.get(batch.input_id, id))
        });
        if let Some(mpid) = stored {
            outcomes.push(IngestOutcome { mpid: Mpid(*mpid), duplicate: true, suppressed: false });
            continue;
        }
        if batch.suppression_keys.iter().any(|key| facts.suppressed.get(ws, key.as_str()).is_some()) {
            outcomes.push(IngestOutcome { mpid: Mpid(0), duplicate: false, suppressed: true });
            continue;
        }
        let owner = |mpid: i64| {
            let login_id = login_ids.get(&(ws, mpid)).or_else(|| facts.login_ids.get(&(ws, mpid)));
            Owner { mpid: Mpid(mpid), login_id: login_id.cloned() }
        };
        let own = batch.mpid.filter(|m| profiles.contains(&(ws, m.0))).map(|m| owner(m.0));
        let resolution = identity::resolve_batch(own, &batch.identities, &|identity: &Identity| {
            holders.get(ws, identity).or_else(|| facts.holders.get(ws, identity)).map(|mpid| owner(*mpid))
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
                // derived from it. One not yet looked up is taken for free
                // while planning, and looked up with the others before the
                // plan stands.
                let mut mpid = batch.new_mpid.0;
                while mpid == 0 || profiles.contains(&(ws, mpid)) {
                    mpid = mpid.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                }
                if !facts.free.contains(&(ws, mpid)) {
                    unverified.push((ws, mpid));
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
            holders.insert(ws, identity.clone(), mpid);
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
        if let Some(opted_out) = batch.opted_out {
            plan.opt_outs.insert((ws, mpid), (ts, i64::from(opted_out)));
        }
        plan.batches.push((batch, mpid));
        if let Some(id) = request_id {
            requests.insert((batch.input_id, id), mpid);
        }
        outcomes.push(IngestOutcome { mpid: Mpid(mpid), duplicate: false, suppressed: false });
    }
    if unverified.is_empty() {
        Planned::Done(plan, outcomes)
    } else {
        Planned::Probe(unverified)
    }
}

impl<'a> GroupPlan<'a> {
    /// The writes, in order: profiles before what refers to them, batches
    /// last. What a known profile already holds is not written again.
    fn statements(self, facts: &Facts, numbered: bool) -> Vec<Statement<'a>> {
        let held = |ws: i64, mpid: i64| facts.known.contains(&(ws, mpid));
        let mut out = Vec::new();
        let mut rows = Rows { out: &mut out, numbered };
        rows.insert(
            "INSERT INTO profiles (workspace_id, mpid, created_at_ms, updated_at_ms) VALUES {}",
            4,
            self.new_profiles.iter().flat_map(|&(ws, mpid, ts)| [ws.into(), mpid.into(), ts.into(), ts.into()]),
        );
        rows.insert(
            "INSERT INTO profile_identities (workspace_id, identity_type, value, mpid, created_at_ms) VALUES {} \
             ON CONFLICT (workspace_id, identity_type, value) DO UPDATE SET mpid = excluded.mpid \
             WHERE profile_identities.mpid IS DISTINCT FROM excluded.mpid",
            5,
            self.identities.into_iter().flat_map(|((ws, identity), (mpid, ts))| {
                [ws.into(), identity.kind.as_str().into(), identity.value.into(), mpid.into(), ts.into()]
            }),
        );
        let stored_attribute = |ws: i64, mpid: i64, name: &str| {
            facts.attributes.get(&(ws, mpid)).and_then(|held| held.get(name)).map(String::as_str)
        };
        let attributes: Vec<_> = self
            .attributes
            .iter()
            .filter(|(&(ws, mpid, name), value)| {
                !held(ws, mpid) || stored_attribute(ws, mpid, name) != value.map(|(json, _)| json)
            })
            .collect();
        rows.insert(
            "INSERT INTO profile_attributes (workspace_id, mpid, name, value_json, updated_at_ms) VALUES {} \
             ON CONFLICT (workspace_id, mpid, name) DO UPDATE \
             SET value_json = excluded.value_json, updated_at_ms = excluded.updated_at_ms \
             WHERE profile_attributes.value_json IS DISTINCT FROM excluded.value_json",
            5,
            attributes
                .iter()
                .filter_map(|(&(ws, mpid, name), value)| value.map(|(json, ts)| (ws, mpid, name, json, ts)))
                .flat_map(|(ws, mpid, name, json, ts)| [ws.into(), mpid.into(), name.into(), json.into(), ts.into()]),
        );
        // Deletions are rare: one statement each.
        for (&(ws, mpid, name), _) in attributes.iter().filter(|(_, value)| value.is_none()) {
            let sql = if numbered {
                "DELETE FROM profile_attributes WHERE workspace_id = $1 AND mpid = $2 AND name = $3"
            } else {
                "DELETE FROM profile_attributes WHERE workspace_id = ? AND mpid = ? AND name = ?"
            };
            rows.out.push(Statement { sql, params: vec![ws.into(), mpid.into(), name.into()] });
        }
        let stored_consent = |ws: i64, mpid: i64, regulation: &str, purpose: &str| {
            facts
                .consent
                .get(&(ws, mpid))?
                .iter()
                .find(|(r, p, _)| r == regulation && p == purpose)
                .map(|c| c.2.as_str())
        };
        rows.insert(
            "INSERT INTO profile_consent (workspace_id, mpid, regulation, purpose, state_json) VALUES {} \
             ON CONFLICT (workspace_id, mpid, regulation, purpose) DO UPDATE SET state_json = excluded.state_json \
             WHERE profile_consent.state_json IS DISTINCT FROM excluded.state_json",
            5,
            self.consent
                .iter()
                .filter(|(&(ws, mpid, regulation, purpose), &state)| {
                    !held(ws, mpid) || stored_consent(ws, mpid, regulation, purpose) != Some(state)
                })
                .flat_map(|(&(ws, mpid, regulation, purpose), &state)| {
                    [ws.into(), mpid.into(), regulation.into(), purpose.into(), state.into()]
                }),
        );
        // A profile's last stored time is its latest batch's (see
        // `Store::profile`): only an opt-out changes the profile's own row.
        rows.insert(
            "UPDATE profiles SET updated_at_ms = v.ts, opted_out = v.opted \
             FROM (SELECT column1 AS ws, column2 AS m, column3 AS ts, column4 AS opted FROM (VALUES {}) AS r) AS v \
             WHERE profiles.workspace_id = v.ws AND profiles.mpid = v.m",
            4,
            self.opt_outs
                .iter()
                .flat_map(|(&(ws, mpid), &(ts, opted))| [ws.into(), mpid.into(), ts.into(), opted.into()]),
        );
        rows.insert(
            "INSERT INTO batches (workspace_id, input_id, mpid, source_request_id, received_at_ms, event_count, body) \
             VALUES {}",
            7,
            self.batches.iter().flat_map(|&(batch, mpid)| {
                [
                    batch.workspace_id.0.into(),
                    batch.input_id.into(),
                    mpid.into(),
                    batch.source_request_id.as_deref().into(),
                    batch.received_at_ms.into(),
                    batch.event_count.into(),
                    Param::Blob(batch.body.stored()),
                ]
            }),
        );
        out
    }
}

/// Multi-row statements, appended to `out`.
struct Rows<'o, 'a> {
    out: &'o mut Vec<Statement<'a>>,
    numbered: bool,
}

impl<'a> Rows<'_, 'a> {
    /// `template` (with `{}` where the `VALUES` rows go) over the rows of
    /// `width` values in `params`, in statements of [`STATEMENT_ROWS`] rows.
    fn insert(&mut self, template: &'static str, width: usize, params: impl IntoIterator<Item = Param<'a>>) {
        let params: Vec<Param<'a>> = params.into_iter().collect();
        let rows = params.len() / width;
        let mut params = params.into_iter();
        for size in chunk_sizes(rows) {
            let params = params.by_ref().take(size * width).collect();
            self.out.push(Statement { sql: expand(template, size, width, self.numbered), params });
        }
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

    #[test]
    fn lookups_run_as_few_statements_padded_to_a_fixed_size() {
        assert_eq!(lookup_sizes(0), []);
        assert_eq!(lookup_sizes(1), [(1, 1)]);
        assert_eq!(lookup_sizes(5), [(5, 16)]);
        assert_eq!(lookup_sizes(64), [(64, 64)]);
        assert_eq!(lookup_sizes(600), [(256, 256), (256, 256), (88, 256)]);
    }

    #[test]
    fn statement_shapes_are_built_once() {
        let first = expand("SELECT {}", 4, 2, false);
        assert_eq!(first, "SELECT (?,?),(?,?),(?,?),(?,?)");
        assert!(std::ptr::eq(first, expand("SELECT {}", 4, 2, false)));
        assert_eq!(expand("SELECT {}", 1, 2, true), "SELECT ($1,$2)");
    }
}
