//! Migrations apply on an empty database, revert completely, and apply again.

use diesel::prelude::*;

use crate::helpers::cluster::server_url;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn user_tables(conn: &mut PgConnection) -> i64 {
    diesel::sql_query(
        "SELECT count(*) AS n FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    )
    .get_result::<Count>(conn)
    .unwrap()
    .n
}

#[test]
fn migrations_are_reversible() {
    let name = format!("tg_migrations_{}", std::process::id());
    let mut admin = PgConnection::establish(&server_url("postgres")).unwrap();
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut admin)
        .unwrap();
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .unwrap();
    {
        let mut conn = PgConnection::establish(&server_url(&name)).unwrap();
        let applied = ticketgate::db::migrations::run_pending(&mut conn).unwrap();
        assert!(!applied.is_empty());
        assert!(user_tables(&mut conn) >= 17);
        ticketgate::db::migrations::revert_all(&mut conn).unwrap();
        assert_eq!(user_tables(&mut conn), 0, "down.sql leaves tables behind");
        ticketgate::db::migrations::run_pending(&mut conn).unwrap();
        assert!(ticketgate::db::migrations::run_pending(&mut conn)
            .unwrap()
            .is_empty());
    }
    diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .unwrap();
}
