//! Small, exact data for tests that must know every row (the seeder is for volume).

use chrono::{DateTime, Duration, TimeZone, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use ticketgate::db::schema::tickets;
use ticketgate::teams::queries as teams;

pub fn team(conn: &mut PgConnection, slug: &str) -> Uuid {
    teams::find_or_create(conn, slug).expect("team").0.id
}

pub fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
        .single()
        .expect("time")
}

/// `count` widget tickets numbered from the team's counter; every third ticket shares its
/// `updated_at` with the previous one, so orderings need the id tie-break.
pub fn tickets(conn: &mut PgConnection, team_id: Uuid, count: i32) -> Vec<Uuid> {
    (0..count)
        .map(|i| {
            let number = teams::next_ticket_number(conn, team_id).expect("number");
            let updated = base_time() + Duration::minutes(i64::from(i - i % 3 / 2));
            let id = Uuid::now_v7();
            diesel::insert_into(tickets::table)
                .values((
                    tickets::id.eq(id),
                    tickets::team_id.eq(team_id),
                    tickets::ticket_number.eq(number),
                    tickets::channel_source.eq("widget"),
                    tickets::channel_detail.eq(Some("widget_embedded")),
                    tickets::distinct_id.eq(format!("visitor-{i}")),
                    tickets::status.eq("open"),
                    tickets::created_at.eq(base_time()),
                    tickets::updated_at.eq(updated),
                ))
                .execute(conn)
                .expect("insert ticket");
            id
        })
        .collect()
}
