//! The seeder's two paths: row-by-row index maintenance, and the bulk path of an empty
//! database (secondary indexes dropped, loaded, rebuilt). Both must leave the same data
//! and the same, valid indexes.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
use ticketgate::db::bulk_load as bulk;
use ticketgate::seed::{seed_teams, team_plans, BulkLoad, SeedOptions};

use crate::helpers::test_db;

/// What seeding decides per ticket, timestamps and ids aside (they differ per run).
#[derive(Debug, PartialEq, Eq, QueryableByName)]
struct TicketShape {
    #[diesel(sql_type = Text)]
    team: String,
    #[diesel(sql_type = Integer)]
    ticket_number: i32,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Text>)]
    priority: Option<String>,
    #[diesel(sql_type = Text)]
    channel_source: String,
    #[diesel(sql_type = Integer)]
    message_count: i32,
    #[diesel(sql_type = Integer)]
    unread_team_count: i32,
    #[diesel(sql_type = Integer)]
    unread_customer_count: i32,
    #[diesel(sql_type = Nullable<Text>)]
    last_message_text: Option<String>,
    #[diesel(sql_type = BigInt)]
    messages: i64,
    #[diesel(sql_type = BigInt)]
    tags: i64,
    #[diesel(sql_type = BigInt)]
    assignments: i64,
}

#[derive(Debug, PartialEq, Eq, QueryableByName)]
struct TeamShape {
    #[diesel(sql_type = Text)]
    slug: String,
    #[diesel(sql_type = Integer)]
    last_ticket_number: i32,
    #[diesel(sql_type = BigInt)]
    tickets: i64,
    #[diesel(sql_type = BigInt)]
    persons: i64,
    #[diesel(sql_type = BigInt)]
    distinct_ids: i64,
}

#[derive(Debug, PartialEq, Eq, QueryableByName)]
struct IndexShape {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    definition: String,
    #[diesel(sql_type = Bool)]
    valid: bool,
}

fn tickets(conn: &mut PgConnection) -> Vec<TicketShape> {
    diesel::sql_query(
        "SELECT te.slug AS team, t.ticket_number, t.status, t.priority, t.channel_source, \
                t.message_count, t.unread_team_count, t.unread_customer_count, t.last_message_text, \
                (SELECT count(*) FROM messages m WHERE m.ticket_id = t.id) AS messages, \
                (SELECT count(*) FROM ticket_tags g WHERE g.ticket_id = t.id) AS tags, \
                (SELECT count(*) FROM ticket_assignments a WHERE a.ticket_id = t.id) AS assignments \
         FROM tickets t JOIN teams te ON te.id = t.team_id ORDER BY te.slug, t.ticket_number",
    )
    .load(conn)
    .expect("tickets")
}

fn teams(conn: &mut PgConnection) -> Vec<TeamShape> {
    diesel::sql_query(
        "SELECT te.slug, te.last_ticket_number, \
                (SELECT count(*) FROM tickets t WHERE t.team_id = te.id) AS tickets, \
                (SELECT count(*) FROM persons p WHERE p.team_id = te.id) AS persons, \
                (SELECT count(*) FROM person_distinct_ids d WHERE d.team_id = te.id) AS distinct_ids \
         FROM teams te ORDER BY te.slug",
    )
    .load(conn)
    .expect("teams")
}

fn indexes(conn: &mut PgConnection) -> Vec<IndexShape> {
    diesel::sql_query(
        "SELECT x.relname::text AS name, pg_get_indexdef(i.indexrelid) AS definition, \
                i.indisvalid AND i.indisready AS valid \
         FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = x.relnamespace \
         WHERE n.nspname = 'public' ORDER BY 1",
    )
    .load(conn)
    .expect("indexes")
}

fn index_oids(conn: &mut PgConnection) -> Vec<i64> {
    #[derive(QueryableByName)]
    struct Oid {
        #[diesel(sql_type = BigInt)]
        oid: i64,
    }
    diesel::sql_query(
        "SELECT i.indexrelid::bigint AS oid FROM pg_index i \
         JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_namespace n ON n.oid = x.relnamespace \
         WHERE n.nspname = 'public' ORDER BY 1",
    )
    .load::<Oid>(conn)
    .expect("index oids")
    .into_iter()
    .map(|o| o.oid)
    .collect()
}

/// Every ticket's counters agree with its messages as DATA-MODEL.md defines them.
fn assert_counters_match_messages(conn: &mut PgConnection) {
    let wrong: i64 = diesel::sql_query(
        "SELECT count(*) AS n FROM tickets t WHERE t.message_count <> \
           (SELECT count(*) FROM messages m WHERE m.ticket_id = t.id AND NOT m.is_private AND NOT m.deleted)",
    )
    .get_result::<Count>(conn)
    .expect("counters")
    .n;
    assert_eq!(
        wrong, 0,
        "tickets whose message_count disagrees with their messages"
    );
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[test]
fn bulk_seed_of_two_teams_matches_the_normal_path() {
    let normal = test_db();
    let bulk = test_db();
    let plans = team_plans("acme", 2, 301, 7, false);
    seed_teams(&normal.url, &plans, BulkLoad::Never).expect("normal seed");
    let reports = seed_teams(&bulk.url, &plans, BulkLoad::WhenEmpty).expect("bulk seed");
    assert_eq!(
        reports.iter().map(|r| r.tickets).collect::<Vec<_>>(),
        vec![151, 150]
    );

    let (mut a, mut b) = (normal.conn(), bulk.conn());
    let teams_a = teams(&mut a);
    assert_eq!(teams_a.len(), 2);
    assert_eq!(teams_a[0].last_ticket_number, 151);
    assert_eq!(teams_a, teams(&mut b));
    let tickets_a = tickets(&mut a);
    assert_eq!(tickets_a.len(), 301);
    assert_eq!(tickets_a, tickets(&mut b));
    assert_counters_match_messages(&mut b);

    // The same indexes as the migrations create, every one valid.
    let indexes_b = indexes(&mut b);
    assert!(indexes_b.iter().all(|i| i.valid), "{indexes_b:?}");
    assert!(indexes_b
        .iter()
        .any(|i| i.name == "messages_team_content_trgm_idx"));
    assert_eq!(indexes(&mut a), indexes_b);
    assert_eq!(
        dropped_on_record(&mut b),
        0,
        "every rebuilt index is forgotten"
    );
}

fn dropped_on_record(conn: &mut PgConnection) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    diesel::sql_query("SELECT count(*) AS n FROM seed_dropped_indexes")
        .get_result::<Count>(conn)
        .expect("count")
        .n
}

#[test]
fn the_next_start_builds_the_indexes_an_interrupted_seed_dropped() {
    let db = test_db();
    let mut conn = db.conn();
    let before = indexes(&mut conn);
    // What a seed killed between the drop and the rebuild leaves behind.
    let secondary = bulk::secondary_indexes(&mut conn).expect("secondary indexes");
    assert!(secondary.len() > 10, "{secondary:?}");
    bulk::drop_indexes(&mut conn, &secondary).expect("drop");
    assert!(bulk::secondary_indexes(&mut conn).unwrap().is_empty());
    assert_eq!(dropped_on_record(&mut conn), secondary.len() as i64);

    // While a seed is still loading, a start leaves its indexes to it.
    let mut seeding = db.conn();
    bulk::begin_load(&mut seeding).expect("load lock");
    migrate(&db.url);
    assert!(bulk::secondary_indexes(&mut conn).unwrap().is_empty());
    // Once no seed holds them (killed: its session ended), the next start builds them.
    drop(seeding);
    migrate(&db.url);
    assert_eq!(
        indexes(&mut conn),
        before,
        "the same indexes, every one valid"
    );
    assert_eq!(dropped_on_record(&mut conn), 0);
    // Nothing is left to do the next time.
    migrate(&db.url);
    assert_eq!(indexes(&mut conn), before);
}

fn migrate(url: &str) {
    let out = std::process::Command::new(crate::helpers::binary())
        .arg("migrate")
        .env("DATABASE_URL", url)
        .output()
        .expect("ticketgate migrate");
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn seeding_an_existing_team_keeps_its_indexes_and_numbering() {
    let db = test_db();
    let plans = team_plans("acme", 2, 40, 7, false);
    seed_teams(&db.url, &plans, BulkLoad::WhenEmpty).expect("bulk seed");
    let mut conn = db.conn();
    let before = index_oids(&mut conn);

    // Not empty any more: the normal path, which leaves the indexes alone.
    let more = SeedOptions {
        team_slug: "acme-0".into(),
        tickets: 25,
        progress: false,
        rng_seed: 8,
    };
    seed_teams(&db.url, &[more], BulkLoad::WhenEmpty).expect("second seed");
    assert_eq!(index_oids(&mut conn), before, "no index was rebuilt");

    let numbers: Vec<i32> = tickets(&mut conn)
        .into_iter()
        .filter(|t| t.team == "acme-0")
        .map(|t| t.ticket_number)
        .collect();
    assert_eq!(numbers, (1..=45).collect::<Vec<_>>(), "gap-free, continued");
    assert_eq!(teams(&mut conn)[0].last_ticket_number, 45);
    assert_counters_match_messages(&mut conn);
}

#[test]
fn one_run_may_not_seed_a_team_twice() {
    let db = test_db();
    let mut plans = team_plans("acme", 1, 10, 7, false);
    plans.extend(team_plans("acme", 1, 10, 7, false));
    assert!(seed_teams(&db.url, &plans, BulkLoad::WhenEmpty).is_err());
    assert!(
        teams(&mut db.conn()).is_empty(),
        "refused before writing anything"
    );
}
